/** npm run lab -- up | down | status: the pilot's model Internet and local systems on this machine. */
import { Command } from "commander";
import { labDown, labStatus, labUp, readLabDescription } from "../lab/lab";
import { LAB_PASSPHRASE, openLabStack } from "../lab/lab-stack";
import { obtainEngine } from "../src/ops/engine";

const progress = (m: string) => process.stderr.write(`${m}\n`);
const program = new Command("lab")
  .description("Build, inspect or remove the lab: network namespaces with sshd, postfix, knot and dovecot for the pilot stack (root).")
  .addHelpText("after", "\nExit codes: 0 done (status: the lab is up), 1 failed (status: the lab is down), 2 bad arguments.")
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));

program
  .command("up")
  .description("Install missing packages, remove a stale lab, build the namespaces and start the daemons; idempotent.")
  .option("--json", "print the lab description as JSON")
  .option("--stack <name>", "also configure a stack (lab-*) with the pilot's config and the lab's keys, on the project's local backend")
  .action(async (o: { json?: boolean; stack?: string }) => {
    if (o.stack && !o.stack.startsWith("lab-"))
      throw new Error(`--stack ${o.stack}: lab stacks are named lab-... (their config files are git-ignored); try --stack lab-${o.stack}`);
    const lab = await labUp(progress);
    if (o.stack) {
      const stack = await openLabStack(o.stack, lab, await obtainEngine(progress), progress);
      progress(
        `lab: stack ${stack.name} configured (passphrase ${LAB_PASSPHRASE === "cutover-lab" ? "cutover-lab" : "from PULUMI_CONFIG_PASSPHRASE"})`,
      );
    }
    if (o.json) process.stdout.write(`${JSON.stringify(lab, null, 2)}\n`);
    else
      for (const h of Object.values(lab.hosts))
        process.stdout.write(
          `${h!.role.padEnd(9)} ${h!.address.padEnd(15)} ip netns exec ${h!.namespace} ...   ssh -i ${lab.adminKeyPath} root@${h!.address}\n`,
        );
  });
program
  .command("down")
  .description("Stop the lab's processes and delete its namespaces.")
  .action(async () => labDown(progress));
program
  .command("status")
  .description("Show the lab's namespaces and how many processes run in each.")
  .option("--json", "print JSON")
  .action(async (o: { json?: boolean }) => {
    const s = await labStatus();
    if (o.json) process.stdout.write(`${JSON.stringify({ ...s, ...(s.up ? { lab: readLabDescription() } : {}) }, null, 2)}\n`);
    else
      process.stdout.write(
        s.namespaces.length ? `${s.namespaces.map((n) => `${n.name.padEnd(20)} ${n.processes} processes`).join("\n")}\n` : "lab is down\n",
      );
    process.exitCode = s.up ? 0 : 1;
  });

program.parseAsync().catch((e) => {
  process.stderr.write(`lab: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
