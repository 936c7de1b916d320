import { randomBase62 } from "../apikey/api-key-format.js";

export const JOIN_TOKEN_PREFIX = "wdn_j_";
export const AGENT_TOKEN_PREFIX = "wdn_a_";
const JOIN_TOKEN = /^wdn_j_[A-Za-z0-9]{43}$/;
const AGENT_TOKEN = /^wdn_a_[A-Za-z0-9]{64}$/;

/** 43 base62 characters: ~256 bits, so the hash alone is enough to find and check it. */
export function newJoinToken(): string {
  return JOIN_TOKEN_PREFIX + randomBase62(43);
}

export function isJoinTokenFormat(value: string): boolean {
  return JOIN_TOKEN.test(value);
}

export function newAgentToken(): string {
  return AGENT_TOKEN_PREFIX + randomBase62(64);
}

export function isAgentTokenFormat(value: string): boolean {
  return AGENT_TOKEN.test(value);
}

export const BOOTSTRAP_TOKEN_PREFIX = "wdn_b_";
export const RENEWAL_TOKEN_PREFIX = "wdn_r_";
const BOOTSTRAP_TOKEN = /^wdn_b_[A-Za-z0-9]{43}$/;
const RENEWAL_TOKEN = /^wdn_r_[A-Za-z0-9]{43}$/;

/** An agent identity's one-time bootstrap token (AgentService/CreateAgentIdentity). */
export function newBootstrapToken(): string {
  return BOOTSTRAP_TOKEN_PREFIX + randomBase62(43);
}

export function isBootstrapTokenFormat(value: string): boolean {
  return BOOTSTRAP_TOKEN.test(value);
}

/** An agent identity's single-use renewal token (JoinService/RenewAgentIdentity). */
export function newRenewalToken(): string {
  return RENEWAL_TOKEN_PREFIX + randomBase62(43);
}

export function isRenewalTokenFormat(value: string): boolean {
  return RENEWAL_TOKEN.test(value);
}
