/**
 * npm run verify -- <stack>: the verification of the phase the stack's newest successful update
 * deployed, changing nothing (no config, no tag, no update): what an administrator runs the morning
 * after a go-live.
 */
import { isIPv4 } from "node:net";
import { InputError } from "../src/model/errors";
import { verifyDeployed } from "../src/ops/verification";
import { command, EXIT, exitForStatus, main, printJson, printText, progress, stackOption, VERIFY_EXIT_HELP } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "verify",
  "Verify the phase a stack's newest successful update deployed, with its inventory and mailbox file as that update recorded them: a real message per mail flow of the plan, each proven to have entered at the host the plan names (after a go-live, the new server; after a rollback, the legacy gateway), the server answering the gateway address proven to be its planned holder, the open-relay test and, with gateway.tls, the keys the gateways present. Changes nothing: no config, no tag, no update.",
  VERIFY_EXIT_HELP,
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("--json", "print the verification as JSON on stdout (progress stays on stderr)")
  .option(
    "--resolver <address...>",
    "without a model-Internet host: find the MX of mail from outside through these resolvers instead of each zone's authoritative servers",
  )
  .parse();
const o = program.opts<{ json?: boolean; resolver?: string[] }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  const bad = o.resolver?.find((a) => !isIPv4(a));
  if (bad) throw new InputError(`--resolver ${bad}: give a resolver's IPv4 address, such as 192.0.2.53`);
  const r = await verifyDeployed(await openStack(stackName), progress, o.resolver ? { resolvers: o.resolver } : undefined);
  if (o.json) printJson(r);
  else
    printText(
      `${stackName} at phase ${r.phase} (update ${r.update}): ${
        r.status === "done"
          ? "verified"
          : r.status === "verification-failed"
            ? "verification FAILED"
            : `NOT verified: ${r.unverifiedBecause}`
      }\n`,
    );
  return r.status === "done" ? EXIT.done : exitForStatus(r.status);
});
