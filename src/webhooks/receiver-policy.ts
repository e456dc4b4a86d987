import { OutboundHttp, type OutboundPolicy } from "../net/outbound.js";

/**
 * Which outbound policy a tenant's receivers are held to. The deployment's
 * (public HTTPS only, unless ATTESTO_WEBHOOK_ALLOW_LOOPBACK lets every tenant
 * reach loopback), except for the development tenant, which may use a
 * receiver on this machine when the deployment names it (the embedded
 * default does). The same choice is made when a URL is saved and on every
 * connection, each through its own guarded client, so another tenant's URL
 * whose name later resolves to loopback is still refused.
 */
export class ReceiverPolicies {
  readonly #deployment: OutboundPolicy;
  readonly #development: OutboundPolicy | undefined;
  readonly #strictHttp: OutboundHttp;
  readonly #developmentHttp: OutboundHttp | undefined;
  /** The tenant allowed loopback receivers beyond the deployment's policy, if any. */
  readonly developmentTenantId: string | undefined;

  constructor(settings: { policy: OutboundPolicy; loopbackTenantId?: string }, opts: { connectTimeoutMs?: number } = {}) {
    this.#deployment = settings.policy;
    // A deployment that lets every tenant reach loopback needs no exception.
    this.developmentTenantId = settings.policy.allowLoopback ? undefined : settings.loopbackTenantId;
    this.#strictHttp = new OutboundHttp(settings.policy, opts);
    if (this.developmentTenantId !== undefined) {
      this.#development = { ...settings.policy, allowLoopback: true };
      this.#developmentHttp = new OutboundHttp(this.#development, opts);
    }
  }

  /** The policy a URL of this tenant's is checked against when it is saved. */
  policyFor(tenantId: string): OutboundPolicy {
    return tenantId === this.developmentTenantId ? this.#development! : this.#deployment;
  }

  /** The guarded client this tenant's deliveries go through. */
  httpFor(tenantId: string): OutboundHttp {
    return tenantId === this.developmentTenantId ? this.#developmentHttp! : this.#strictHttp;
  }

  async close(): Promise<void> {
    await Promise.all([this.#strictHttp.close(), this.#developmentHttp?.close()]);
  }
}
