/** npm run lab -- up | down | status | reboot: the pilot's model Internet and local systems on this machine. */

import { Option } from "commander";
import { labAccessLines, labDaemonFaults, labDown, labStatus, labUp, readLabDescription, rebootHost } from "../lab/lab";
import { isLabStack, LAB_PASSPHRASE, LAB_SHAPES, type LabShape, openLabStack } from "../lab/lab-stack";
import { InputError } from "../src/model/errors";
import type { HostRole } from "../src/model/inventory";
import { obtainEngine } from "../src/ops/engine";
import { currentPhase } from "../src/ops/guards";
import { command, EXIT, main, printJson, progress } from "./cli";

const program = command(
  "lab",
  "Build, inspect or remove the lab: network namespaces with sshd, postfix, knot and dovecot for the pilot stack (root). `status` exits 1 when the lab is down.",
);

program
  .command("up")
  .description("Install missing packages, remove a stale lab, build the namespaces and start the daemons; idempotent.")
  .option("--json", "print the lab description as JSON")
  .option("-s, --stack <name>", "also configure a stack (lab-*) with the pilot's config and the lab's keys, on the project's local backend")
  .addOption(
    new Option(
      "--shape <shape>",
      "with --stack: pilot (the pilot's config), production (production domains such as paradigms.com, starting at phase 4), post-offices or smart-host (those layouts)",
    )
      .choices(LAB_SHAPES)
      .default("pilot"),
  )
  .option("--pilot <stack>", "with --shape production: the lab stack that rehearsed phases 1-3 (its inventory.pilotStack)")
  .option(
    "--team",
    "also a team: PostgreSQL as the state backend (namespace cutover-teamdb) and a second operator's workstation (cutover-operator2)",
  )
  .action((o: { json?: boolean; stack?: string; team?: boolean; shape: LabShape; pilot?: string }) =>
    main(async () => {
      if (o.stack && !isLabStack(o.stack))
        throw new InputError(
          `--stack ${o.stack}: lab stacks are named lab-... (their config files are git-ignored); try --stack lab-${o.stack}`,
        );
      const lab = await labUp(progress, { team: o.team });
      if (o.stack) {
        const stack = await openLabStack(o.stack, lab, await obtainEngine(progress), progress, undefined, {
          shape: o.shape,
          ...(o.pilot ? { pilotStack: o.pilot } : {}),
        });
        progress(
          `lab: stack ${stack.name} configured (passphrase ${LAB_PASSPHRASE === "cutover-lab" ? "cutover-lab" : "from PULUMI_CONFIG_PASSPHRASE"})`,
        );
        // The hosts are bare again: a stack that had reached a phase gets it back by running that phase.
        const phase = currentPhase({ history: await stack.history() });
        if (phase)
          progress(
            `lab: the hosts were built bare, while ${stack.name} records phase ${phase}: run npm run phase -- ${stack.name} ${phase} to put it back (it reads the bare hosts first and re-applies everything of the phase)`,
          );
      }
      if (o.json) printJson(lab);
      else process.stdout.write(`${labAccessLines(lab).join("\n")}\n`);
      return EXIT.done;
    }),
  );
program
  .command("reboot")
  .description(
    "Reboot a gateway of the lab (legacy or new) as a host reboots: its processes killed, its addresses and name gone, then ifup -a from its own /etc/network/interfaces, its name from its own /etc/hostname, sshd and postfix started. What a phase wrote only at run time is gone after it.",
  )
  .argument("<role>", "legacy or new")
  .action((role: string) =>
    main(async () => {
      await rebootHost(role as HostRole, progress);
      return EXIT.done;
    }),
  );
program
  .command("down")
  .description("Stop the lab's processes and delete its namespaces.")
  .action(() =>
    main(async () => {
      await labDown(progress);
      return EXIT.done;
    }),
  );
program
  .command("status")
  .description(
    "Show the lab's namespaces and how many processes run in each, and each host daemon that does not listen (sshd on 22, postfix on 25): what the stack commands also say; exit 1 when the lab is down (no namespaces).",
  )
  .option("--json", "print JSON")
  .action((o: { json?: boolean }) =>
    main(async () => {
      const s = await labStatus();
      const faults = s.up ? await labDaemonFaults() : [];
      if (o.json) printJson({ ...s, faults, ...(s.up ? { lab: readLabDescription() } : {}) });
      else
        process.stdout.write(
          s.namespaces.length
            ? `${[...s.namespaces.map((n) => `${n.name.padEnd(20)} ${n.processes} processes`), ...faults].join("\n")}\n`
            : "lab is down\n",
        );
      return s.up ? EXIT.done : EXIT.failed;
    }),
  );

program.parse();
