// When the Node webgpu tests can run: the optional `webgpu` package is installed, and there is a
// Vulkan driver to run it on (SwiftShader from Chromium, or one named by VK_ICD_FILENAMES).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SWIFTSHADER_ICDS } from '@splitlora/backend/webgpu-node';

function skipReason(): string | null {
  try {
    createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return 'the optional package "webgpu" is not installed (npm ci installs it; --omit=optional leaves it out)';
  }
  if (!process.env.VK_ICD_FILENAMES && !SWIFTSHADER_ICDS.some(existsSync)) {
    return `no SwiftShader Vulkan driver (${SWIFTSHADER_ICDS.join(' or ')}; apt-get install chromium) and no VK_ICD_FILENAMES`;
  }
  return null;
}

/** Why the webgpu tests are skipped here, or null when they run. */
export const WEBGPU_SKIP = skipReason();

/** A describe title that says why it was skipped. */
export const webgpuTitle = (title: string) => (WEBGPU_SKIP ? `${title} (skipped: ${WEBGPU_SKIP})` : title);
