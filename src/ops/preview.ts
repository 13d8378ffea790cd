/** The engine's preview of a stack at another phase, leaving the stack's config as it was. */
import { CONFIG } from "../model/config-keys";
import type { Progress } from "./engine";
import { describeSteps } from "./outcome";
import type { MigrationStack } from "./stack";

export async function runPreview(stack: MigrationStack, phase: number, progress: Progress): Promise<string> {
  const before = (await stack.config())[CONFIG.phase]?.value;
  if (before !== String(phase)) await stack.setPhase(phase);
  try {
    const r = await stack.preview();
    progress(
      `engine preview: ${Object.entries(r.changes)
        .map(([k, v]) => `${v} ${k}`)
        .join(", ")}`,
    );
    return describeSteps(r);
  } finally {
    if (before !== undefined && before !== String(phase)) await stack.setConfig({ [CONFIG.phase]: { value: before } });
  }
}
