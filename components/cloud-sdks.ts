/**
 * The cloud providers' SDKs, loaded on first use: a stack on on-prem DNS and SSH hosts never loads
 * them. Measured by the steps bench, program load per engine run went from 1.37-1.60 s to
 * 1.10-1.23 s, and each phase step loads the program twice. The types are the SDKs' own.
 */
import type * as Aws from "@pulumi/aws";
import type * as Cloudflare from "@pulumi/cloudflare";

export type { Aws, Cloudflare };

export const aws = (): typeof Aws => require("@pulumi/aws");
export const cloudflare = (): typeof Cloudflare => require("@pulumi/cloudflare");
