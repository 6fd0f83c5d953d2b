/**
 * The authorization stage of inbound listeners: AuthorizationPolicies (packages/schema/src/authz.ts) compiled once
 * per config snapshot for this proxy's service, then evaluated per request with Istio's semantics: a matching
 * enforced DENY rule denies; else, when enforced ALLOW policies apply, one of their rules must match; else allow.
 * Dry-run policies are evaluated as if they were enforced too (with the enforced ones), and a request they would
 * deny that the enforced ones allow is only reported.
 *
 * The caller's identity is the SPIFFE ID of its verified mutual-TLS certificate, never a header: a caller without
 * one matches no principal (not even "*"), so only rules without `from` can match it. The path is the one the
 * listener normalised and forwards (http-path.ts: escapes, "." and ".." resolved once, for routing and the app
 * alike); this stage only reads a run of slashes as one, even where the mesh forwards them as they are
 * (`mergeSlashes` off), so that "//admin" cannot pass a rule for "/admin" whichever way the app reads it.
 */
import {
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  appliesTo,
  expandPrincipal,
  SERVICE_PRINCIPAL_PREFIX,
} from '@trellis/schema';

/** What a rule can look at in a request. `identity` is the verified peer's SPIFFE ID, if any. */
export interface AuthzRequest {
  identity: string | undefined;
  method: string;
  /** The request path, without its query. */
  path: string;
}

export interface AuthzVerdict {
  /** The enforced policy that denies the request, or undefined when it is allowed. */
  denied: string | undefined;
  /** The dry-run policy that would deny it when enforced, when the enforced ones allow it. */
  dryRunDenied: string | undefined;
}

type Matcher = (value: string) => boolean;

function stringMatcher(pattern: string): Matcher {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (value) => value.startsWith(prefix);
  }
  return (value) => value === pattern;
}

interface CompiledRule {
  /** Undefined: any caller (with or without an identity). */
  from: ((identity: string | undefined, trustDomain: string) => boolean) | undefined;
  /** Undefined: any request. */
  to: ((method: string, path: string) => boolean) | undefined;
}

interface CompiledPolicy {
  name: string;
  rules: CompiledRule[];
}

function compilePrincipal(principal: string): (identity: string, trustDomain: string) => boolean {
  if (principal === '*') return () => true;
  if (principal.startsWith(SERVICE_PRINCIPAL_PREFIX)) {
    let domain = '';
    let expected = '';
    return (identity, trustDomain) => {
      if (trustDomain !== domain) {
        domain = trustDomain;
        expected = expandPrincipal(principal, trustDomain);
      }
      return identity === expected;
    };
  }
  const match = stringMatcher(principal);
  return (identity) => match(identity);
}

function compileRule(rule: AuthorizationRule): CompiledRule {
  let from: CompiledRule['from'];
  if (rule.from) {
    const principals = rule.from.map((s) => compilePrincipal(s.principal));
    from = (identity, trustDomain) =>
      identity !== undefined && principals.some((p) => p(identity, trustDomain));
  }
  let to: CompiledRule['to'];
  if (rule.to) {
    const operations = rule.to.map((op) => {
      const paths = op.paths?.map(stringMatcher);
      const methods = op.methods ? new Set<string>(op.methods) : undefined;
      return (method: string, path: string) =>
        (methods === undefined || methods.has(method)) && (paths === undefined || paths.some((p) => p(path)));
    });
    to = (method, path) => operations.some((op) => op(method, path));
  }
  return { from, to };
}

function ruleMatches(rule: CompiledRule, request: AuthzRequest, path: string, trustDomain: string): boolean {
  return (
    (rule.from === undefined || rule.from(request.identity, trustDomain)) &&
    (rule.to === undefined || rule.to(request.method, path))
  );
}

/** One set of policies, evaluated together: which of them denies a request, if any. */
class PolicySet {
  readonly deny: CompiledPolicy[] = [];
  readonly allow: CompiledPolicy[] = [];

  add(policy: AuthorizationPolicySpec): void {
    const compiled = { name: policy.name, rules: policy.rules.map(compileRule) };
    (policy.action === 'deny' ? this.deny : this.allow).push(compiled);
  }

  get empty(): boolean {
    return this.deny.length === 0 && this.allow.length === 0;
  }

  denies(request: AuthzRequest, path: string, trustDomain: string): string | undefined {
    const matches = (p: CompiledPolicy) => p.rules.some((r) => ruleMatches(r, request, path, trustDomain));
    for (const p of this.deny) if (matches(p)) return p.name;
    if (this.allow.length === 0 || this.allow.some(matches)) return undefined;
    return this.allow[0]?.name;
  }
}

const SLASHES = /\/{2,}/g;

/** An already normalised path with each run of slashes read as one. */
export function collapseSlashes(path: string): string {
  return path.includes('//') ? path.replace(SLASHES, '/') : path;
}

export class Authorizer {
  private constructor(
    private readonly enforced: PolicySet,
    /** Enforced and dry-run policies together: what enforcing the dry-run ones would do. */
    private readonly shadow: PolicySet | undefined,
    /** Names of the policies in effect, for /config. */
    readonly policies: readonly AuthorizationPolicySpec[],
  ) {}

  /** The authorizer for proxies of `service`, or undefined when no policy applies to it (nothing to check). */
  static compile(policies: readonly AuthorizationPolicySpec[], service: string): Authorizer | undefined {
    const mine = policies
      .filter((p) => appliesTo(p, service))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (mine.length === 0) return undefined;
    const enforced = new PolicySet();
    const shadow = new PolicySet();
    let dryRuns = 0;
    for (const p of mine) {
      shadow.add(p);
      if (p.dryRun) dryRuns++;
      else enforced.add(p);
    }
    return new Authorizer(enforced, dryRuns > 0 ? shadow : undefined, mine);
  }

  evaluate(request: AuthzRequest, trustDomain: string): AuthzVerdict {
    const path = collapseSlashes(request.path);
    const denied = this.enforced.empty ? undefined : this.enforced.denies(request, path, trustDomain);
    const dryRunDenied =
      denied === undefined && this.shadow ? this.shadow.denies(request, path, trustDomain) : undefined;
    return { denied, dryRunDenied };
  }
}

/** At most one log line per policy per `intervalMs`, with how many were left out since the last one. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000) {}

  /** Whether to log now for `key`; the count of calls suppressed since the previous line. */
  take(key: string, now: number): { log: boolean; suppressed: number } {
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return { log: false, suppressed: 0 };
    }
    const suppressed = entry?.suppressed ?? 0;
    if (!entry && this.last.size >= 1024) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    return { log: true, suppressed };
  }
}
