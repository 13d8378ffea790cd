/** The engine's preview of a stack at another phase; the stack's config file is never touched. */
import type { Progress } from "./engine";
import { changeSummary, describeSteps } from "./outcome";
import type { MigrationStack } from "./stack";

export async function runPreview(stack: MigrationStack, phase: number, progress: Progress): Promise<string> {
  const r = await stack.preview({ phase });
  progress(`engine preview: ${changeSummary(r)}`);
  return describeSteps(r);
}
