/** The cutover program: stack config -> checked inventory -> plan of the phase -> resources. */
import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";
import { loadInventory, parseHostKeys } from "./components/config";
import { plan } from "./components/plan";
import { deploy, type HostCredentials, stackOutputs } from "./components/program";

const config = new pulumi.Config("cutover");
const inventory = loadInventory({
  inventory: config.requireObject("inventory"),
  phase: config.require("phase"),
  baseDir: join(__dirname, "stacks"),
});
const usesSsh = Object.values(inventory.hosts).some((h) => h?.kind === "existing");
const credentials: HostCredentials | undefined = usesSsh
  ? {
      hostKeys: parseHostKeys(config.getObject("hostKeys"), inventory),
      privateKey: config.requireSecret("sshPrivateKey"),
      tsigSecret: config.getSecret("tsigSecret"),
    }
  : undefined;
const desired = plan(inventory, inventory.phase);
const deployment = deploy(inventory, desired, credentials);

const outputs = stackOutputs(desired, deployment);
export const phase = outputs.phase;
export const stage = outputs.stage;
export const gateway = outputs.gateway;
export const zones = outputs.zones;
export const routing = outputs.routing;
export const mailboxes = outputs.mailboxes;
