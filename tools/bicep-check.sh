#!/usr/bin/env bash
# Compiles and lints the Bicep in infra/ with the real Bicep CLI, and fails on any warning or error.
#
#   bash tools/bicep-check.sh               build infra/main.bicep and infra/eventgrid.bicep into dist/infra/*.json,
#                                           lint both; exit 1 on any Warning or Error
#   bash tools/bicep-check.sh --build-only  only build (tests/infra uses this); exit 1 on errors only
#   bash tools/bicep-check.sh --out DIR     write the ARM JSON to DIR instead of dist/infra
#   bash tools/bicep-check.sh --update-hook-template
#                                           also copy the compiled eventgrid.json to infra/eventgrid.json, the
#                                           template the post-deploy hook deploys (committed: the hook needs no
#                                           Bicep CLI; tests/infra fails when it is stale)
#
# The CLI, first found wins: $BICEP; `bicep` on PATH; the one `az bicep install` puts in ~/.azure/bin; the copy
# cached in .local/bicep/<version>/; else the NuGet package Azure.Bicep.CommandLine.<rid> restored with `dotnet`
# (the only way to get it here: its GitHub release download is not reachable, NuGet is), then cached.
# BICEP_VERSION picks the package version (default 0.49.2; 0.48.1 and 0.47.16 are tried if it fails).
#
# No CLI to be had (no dotnet, restore failed): prints "SKIPPED: no Bicep CLI available (...)" and exits 0,
# or exits 1 when REQUIRE_BICEP=1 (CI sets it where the check must not be skipped).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/dist/infra"
build_only=0
update_hook=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --update-hook-template) update_hook=1 ;;
    --out) out="$2"; shift ;;
    --out=*) out="${1#--out=}" ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bicep-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

entries=(main eventgrid)
versions=("${BICEP_VERSION:-0.49.2}" 0.48.1 0.47.16)
cache="$root/.local/bicep"

rid() {
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=osx ;; *) return 1 ;; esac
  case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) return 1 ;; esac
  # Alpine and other musl systems need the linux-musl-x64 build.
  if [ "$os" = linux ] && ldd --version 2>&1 | grep -qi musl; then os=linux-musl; fi
  echo "$os-$arch"
}

# A usable CLI answers --version; its answer is kept for the log line.
works() { [ -n "$1" ] && [ -x "$1" ] && bicep_version="$("$1" --version 2>&1 | head -n 1)"; }

# Restores the CLI package into a temporary folder with a throwaway project (PackageDownload: no build, no
# reference assemblies), then moves the binary into the cache in one rename so parallel runs never see half a file.
restore_with_dotnet() {
  local version="$1" pkg tmp tfm bin
  pkg="Azure.Bicep.CommandLine.$(rid)" || return 1
  tmp="$(mktemp -d)"
  tfm="net$(dotnet --version 2>/dev/null | cut -d. -f1).0"
  cat >"$tmp/bicep-download.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>$tfm</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="$pkg" Version="[$version]" /></ItemGroup>
</Project>
EOF
  echo "bicep-check: restoring $pkg $version with dotnet ..." >&2
  if ! DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
    timeout 600 dotnet restore "$tmp/bicep-download.csproj" --packages "$tmp/packages" -v quiet >"$tmp/restore.log" 2>&1; then
    sed 's/^/  /' "$tmp/restore.log" | tail -n 15 >&2
    rm -rf "$tmp"
    return 1
  fi
  bin="$(find "$tmp/packages" -type f -path '*/tools/bicep' | head -n 1)"
  if [ -z "$bin" ]; then
    echo "bicep-check: no tools/bicep in the restored $pkg $version" >&2
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$cache/$version"
  cp "$bin" "$cache/$version/bicep.$$"
  chmod +x "$cache/$version/bicep.$$"
  mv -f "$cache/$version/bicep.$$" "$cache/$version/bicep"
  rm -rf "$tmp"
}

# Sets $bicep, or $skip_reason and returns 1. (Not run in a $(...) subshell, so both variables survive.)
find_bicep() {
  local candidate version
  for candidate in "${BICEP:-}" "$(command -v bicep 2>/dev/null)" "$HOME/.azure/bin/bicep"; do
    if works "$candidate"; then bicep="$candidate"; return 0; fi
  done
  for version in "${versions[@]}"; do
    if works "$cache/$version/bicep"; then bicep="$cache/$version/bicep"; return 0; fi
  done
  if ! command -v dotnet >/dev/null 2>&1; then
    skip_reason="no bicep on PATH, none cached in .local/bicep, and no dotnet to restore Azure.Bicep.CommandLine"
    return 1
  fi
  for version in "${versions[@]}"; do
    if restore_with_dotnet "$version" && works "$cache/$version/bicep"; then
      bicep="$cache/$version/bicep"
      return 0
    fi
  done
  skip_reason="dotnet restore of Azure.Bicep.CommandLine failed for ${versions[*]}"
  return 1
}

bicep=""
bicep_version=""
skip_reason=""
started=$SECONDS
if ! find_bicep; then
  echo "SKIPPED: no Bicep CLI available ($skip_reason)"
  if [ "${REQUIRE_BICEP:-0}" = 1 ]; then
    echo "bicep-check: REQUIRE_BICEP=1, failing" >&2
    exit 1
  fi
  exit 0
fi
echo "bicep-check: using $bicep ($bicep_version)"

mkdir -p "$out"
warnings=0
errors=0

# Runs one bicep command, shows its diagnostics and counts them. Bicep prints diagnostics to stderr as
#   /path/file.bicep(12,5) : Warning rule-name: message
# Info diagnostics (use-recent-api-versions) are shown but do not fail.
run() {
  local log rc w e
  log="$(mktemp)"
  "$bicep" "$@" >"$log" 2>&1
  rc=$?
  sed "s|$root/||" "$log"
  w=$(grep -cE '\) : Warning ' "$log")
  e=$(grep -cE '\) : Error ' "$log")
  rm -f "$log"
  if [ "$rc" -ne 0 ] && [ "$e" -eq 0 ]; then e=1; fi
  warnings=$((warnings + w))
  errors=$((errors + e))
}

for entry in "${entries[@]}"; do
  run build "$root/infra/$entry.bicep" --outfile "$out/$entry.json"
  if [ "$build_only" = 0 ]; then
    run lint "$root/infra/$entry.bicep"
  fi
done

if [ "$update_hook" = 1 ] && [ "$errors" -eq 0 ]; then
  cp "$out/eventgrid.json" "$root/infra/eventgrid.json"
  echo "bicep-check: infra/eventgrid.json updated"
fi

elapsed=$((SECONDS - started))
if [ "$errors" -gt 0 ] || { [ "$build_only" = 0 ] && [ "$warnings" -gt 0 ]; }; then
  echo "bicep-check: FAILED: $errors error(s), $warnings warning(s) (${elapsed}s)" >&2
  exit 1
fi
echo "bicep-check: OK: ${entries[*]} built into ${out#"$root"/}, $warnings warning(s), 0 errors (${elapsed}s)"
