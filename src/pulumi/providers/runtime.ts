/**
 * Where the providers' logic lived from the move to src/ until the components moved to components/.
 * Engine states recorded then carry provider code that loads this path on refresh, update and
 * delete, so it must keep resolving. New states name components/providers/runtime.ts.
 */
export * from "../../../components/providers/runtime";
