/**
 * The cloud providers' SDKs, loaded on first use: a stack on on-prem DNS and SSH hosts never loads
 * them (@pulumi/aws alone is ~0.1 s of every program load, measured: each phase step loads the
 * program twice). The types are the SDKs' own.
 */
import type * as Aws from "@pulumi/aws";
import type * as Cloudflare from "@pulumi/cloudflare";

export type { Aws, Cloudflare };

export const aws = (): typeof Aws => require("@pulumi/aws");
export const cloudflare = (): typeof Cloudflare => require("@pulumi/cloudflare");
