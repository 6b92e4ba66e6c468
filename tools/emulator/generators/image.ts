import type { ResponseOutputItem, Tool } from 'openai/resources/responses/responses';
import { newId } from '../ids';
import { renderPng } from '../png';

/** The fields the service returns beside the SDK's minimal `image_generation_call` type. */
export type ImageGenerationCall = ResponseOutputItem.ImageGenerationCall & {
  background: string;
  output_format: 'png';
  quality: string;
  size: string;
  revised_prompt: string;
};

/** A real PNG (at most 256px a side, whatever `size` says) whose colours derive from the prompt. */
export function imageCall(tool: Tool.ImageGeneration, prompt: string): ImageGenerationCall {
  const size = tool.size && tool.size !== 'auto' ? tool.size : '1024x1024';
  const [w = 1024, h = 1024] = size.split('x').map(Number);
  const scale = 256 / Math.max(w, h, 256);
  const png = renderPng(prompt, Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)));
  return {
    id: newId('ig'),
    type: 'image_generation_call',
    status: 'completed',
    result: png.toString('base64'),
    background: tool.background ?? 'opaque',
    output_format: 'png',
    quality: tool.quality ?? 'medium',
    size,
    revised_prompt: prompt,
  };
}
