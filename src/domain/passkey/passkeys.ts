import { createHash, createHmac } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type VerifiedAuthenticationResponse,
} from "@simplewebauthn/server";
import type { Clock } from "../../clock.js";
import { randomToken } from "../../crypto/random.js";
import type { PasskeyRow, UserRow, WebauthnChallengeRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { PasskeyStore } from "../store/passkey-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { AuditEntry } from "../audit/audit-event.js";
import type { AuditLog } from "../audit/audit-log.js";
import { userActor } from "../audit/audit-actor.js";
import { normalizeEmail } from "../auth/email.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { IssuedTokens, SignIn } from "../auth/sign-in.js";
import { DomainError, invalidArgument, permissionDenied, unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { parseAuthenticationResponse, parseRegistrationResponse } from "./webauthn-json.js";

export const CHALLENGE_TTL_SECONDS = 600;
export const MAX_PASSKEYS_PER_USER = 20;
const DEFAULT_NAME = "Passkey";
/** How long the browser ceremony may take; well inside the challenge's life. */
const CEREMONY_TIMEOUT_MS = 5 * 60 * 1000;
const PURGE_INTERVAL_MS = 60 * 1000;
const CHALLENGE_ID = /^wac_[A-Za-z0-9_-]{32}$/;
// EdDSA, ES256, RS256.
const SUPPORTED_ALGORITHMS = [-8, -7, -257];
const TRANSPORTS = new Set(["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"]);

/**
 * User verification is "required", not "preferred": a passkey sign-in goes straight to tokens
 * with MFA satisfied (amr hwk + user), which is only true when the authenticator checked the
 * user (PIN or biometric) as well as holding the key. A "preferred" ceremony would let an
 * authenticator without UV, e.g. a bare security key, pass as two factors with one.
 */
const USER_VERIFICATION = "required" as const;

export interface WebAuthnSettings {
  rpId: string;
  rpName: string;
  /** Exact origins (scheme://host[:port]) allowed to run the ceremonies. */
  origins: string[];
  /** Keys the decoy credential ids offered for an email without passkeys. */
  decoyKey: Buffer;
}

type PasskeyPorts = { passkeys: PasskeyStore; users: Pick<UserStore, "findById" | "findByEmail" | "lockForUpdate">; audit: Pick<AuditStore, "append"> };

export interface PasskeyDeps {
  store: Ports<PasskeyPorts>;
  clock: Clock;
  audit: AuditLog;
  signIn: SignIn;
  settings: WebAuthnSettings;
  limiter: Pick<BruteForce, "takeAddressQuota">;
}

export interface StartedCeremony {
  challengeId: string;
  optionsJson: string;
}

type Outcome<T> = { ok: T } | { error: DomainError };

/** An assertion that passed every check but the counter's, or why it failed. */
type CheckedAssertion = { passkey: PasskeyRow; assertion: VerifiedAuthenticationResponse["authenticationInfo"] } | { reason: string; passkey?: PasskeyRow };

/** The web login's passkey step: the passkey that answered, or the refusal and why. */
export type StepUpOutcome = { passkey: PasskeyRow } | { error: DomainError; reason: string; passkey?: PasskeyRow };

/** Passkeys: registration for a signed-in user, and sign-in with a passkey as a full session. */
export class Passkeys {
  private lastPurge = 0;

  constructor(private readonly d: PasskeyDeps) {}

  async startRegistration(caller: UserPrincipal, rawName: string): Promise<StartedCeremony> {
    const name = checkName(rawName);
    const user = await this.requireUser(caller);
    const existing = await this.d.store.passkeys.listForUser(user.id);
    if (existing.length >= MAX_PASSKEYS_PER_USER) throw tooManyPasskeys();
    const options = await generateRegistrationOptions({
      rpName: this.d.settings.rpName,
      rpID: this.d.settings.rpId,
      userName: user.email,
      userID: userHandleOf(user.id),
      userDisplayName: user.displayName || user.email,
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: "none",
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransport[] })),
      authenticatorSelection: { residentKey: "required", userVerification: USER_VERIFICATION },
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });
    const challengeId = await this.storeChallenge("registration", options.challenge, user.id, name);
    return { challengeId, optionsJson: JSON.stringify(options) };
  }

  async completeRegistration(caller: UserPrincipal, challengeId: string, responseJson: string, meta: RequestMeta): Promise<PasskeyRow> {
    checkChallengeId(challengeId);
    const response = parseRegistrationResponse(responseJson);
    // The challenge is spent before the response is looked at: one try per challenge.
    const challenge = await this.d.store.passkeys.claimChallenge(challengeId, "registration", this.d.clock.now(), caller.userId);
    const refuse = (reason: string, error = invalidArgument("response_json", "the passkey could not be verified", "PASSKEY_REGISTRATION_INVALID")) =>
      this.refuse("passkey.register", reason, meta, { userId: caller.userId, challengeId, error });
    if (!challenge)
      throw await refuse(
        "challenge_invalid",
        new DomainError("failed_precondition", "PASSKEY_CHALLENGE_INVALID", "the registration challenge is unknown, used or expired; start again"),
      );

    let info;
    try {
      const v = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.d.settings.origins,
        expectedRPID: this.d.settings.rpId,
        requireUserVerification: true,
        supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
      });
      if (!v.verified) throw new Error("attestation not verified");
      info = v.registrationInfo;
    } catch {
      throw await refuse("verification_failed");
    }
    if (info.credential.id !== response.id) throw await refuse("credential_id_mismatch");

    const outcome = await this.d.store.transaction(async (tx): Promise<Outcome<PasskeyRow>> => {
      await tx.users.lockForUpdate(caller.userId);
      if ((await tx.passkeys.countForUser(caller.userId)) >= MAX_PASSKEYS_PER_USER) return { error: tooManyPasskeys() };
      const row = await tx.passkeys.insert({
        credentialId: info.credential.id,
        userId: caller.userId,
        name: challenge.name ?? DEFAULT_NAME,
        publicKey: Buffer.from(info.credential.publicKey).toString("base64url"),
        signCount: info.credential.counter,
        transports: (response.response.transports ?? []).filter((t) => TRANSPORTS.has(t)),
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        createdAt: this.d.clock.now(),
      });
      if (!row) return { error: new DomainError("already_exists", "PASSKEY_ALREADY_REGISTERED", "this passkey is already registered") };
      await this.d.audit.record(tx, {
        eventType: "passkey.register",
        outcome: "success",
        ...actor(caller.userId, meta),
        targetType: "passkey",
        targetId: row.id,
        details: { device_type: row.deviceType },
      });
      return { ok: row };
    });
    if ("error" in outcome) throw outcome.error;
    return outcome.ok;
  }

  /**
   * Options for a sign-in. With an email, allowCredentials lists that account's passkeys; an
   * email with no usable account gets a decoy credential (stable per email) instead of an empty
   * list, so that the answer does not tell which emails have accounts.
   */
  async startAuthentication(rawEmail: string, meta: RequestMeta): Promise<StartedCeremony> {
    // Every ceremony stores a challenge: a client gets a bounded number of them, successful or not.
    await this.d.limiter.takeAddressQuota("passkey_start", meta.clientIp);
    let userId: string | null = null;
    let allowCredentials: { id: string; transports?: AuthenticatorTransport[] }[] | undefined;
    if (rawEmail.trim() !== "") {
      const email = normalizeEmail(rawEmail);
      const user = await this.d.store.users.findByEmail(email);
      const own = user && !user.disabled ? await this.d.store.passkeys.listForUser(user.id) : [];
      if (own.length > 0) userId = user!.id;
      allowCredentials =
        own.length > 0
          ? own.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransport[] }))
          : [{ id: this.decoyCredentialId(email), transports: ["internal", "hybrid"] }];
    }
    const options = await generateAuthenticationOptions({
      rpID: this.d.settings.rpId,
      allowCredentials,
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: USER_VERIFICATION,
    });
    const challengeId = await this.storeChallenge("authentication", options.challenge, userId, null);
    return { challengeId, optionsJson: JSON.stringify(options) };
  }

  /**
   * Verifies an assertion and opens a session exactly as password sign-in does. The challenge is
   * claimed first (single use, whatever the outcome); the counter is stored after every verified
   * assertion and must grow, or the assertion is refused and audited as a possible clone.
   */
  async completeAuthentication(challengeId: string, responseJson: string, meta: RequestMeta): Promise<IssuedTokens> {
    checkChallengeId(challengeId);
    const response = parseAuthenticationResponse(responseJson);
    const challenge = await this.d.store.passkeys.claimChallenge(challengeId, "authentication", this.d.clock.now());
    // Each failure names its challenge, which it has spent: at most one failed assertion per challenge.
    const refuse = (reason: string, o: { error?: DomainError; passkey?: PasskeyRow } = {}) =>
      this.refuse("auth.passkey_login", reason, meta, { challengeId, userId: o.passkey?.userId, passkey: o.passkey, error: o.error ?? authFailed() });
    if (!challenge)
      throw await refuse("challenge_invalid", {
        error: unauthenticated("PASSKEY_CHALLENGE_INVALID", "the sign-in challenge is unknown, used or expired; start again"),
      });

    const checked = await this.checkAssertion(response, challenge);
    if ("reason" in checked) throw await refuse(checked.reason, { passkey: checked.passkey });
    const { passkey, assertion } = checked;

    const outcome = await this.d.store.transaction(async (tx): Promise<Outcome<UserRow>> => {
      const regressed = await this.recordCounter(tx, passkey, assertion, meta);
      if (regressed) return { error: regressed };
      const target = { targetType: "passkey", targetId: passkey.id };
      const user = await tx.users.findById(passkey.userId);
      if (!user || user.disabled) {
        await this.d.audit.record(tx, {
          eventType: "auth.passkey_login",
          outcome: "failure",
          ...actor(passkey.userId, meta),
          ...target,
          details: { reason: "user_disabled" },
        });
        return { error: authFailed() };
      }
      await this.d.audit.record(tx, {
        eventType: "auth.passkey_login",
        outcome: "success",
        ...actor(user.id, meta),
        ...target,
        details: { counter: String(assertion.newCounter) },
      });
      return { ok: user };
    });
    if ("error" in outcome) throw outcome.error;

    const result = await this.d.signIn.start(outcome.ok, "passkey", meta, { amr: ["hwk", "user"], mfaSatisfied: true });
    if (result.kind !== "tokens") throw new Error("passkey sign-in must not ask for a second factor");
    return result;
  }

  /** Whether the user has a passkey: the web login then asks for one after the password. */
  async hasPasskey(userId: string): Promise<boolean> {
    return (await this.d.store.passkeys.countForUser(userId)) > 0;
  }

  /**
   * Options for the web login's passkey step, after a right password: this user's passkeys, with
   * a challenge bound to the user. No address quota: the password step's budgets bound how often
   * a caller gets here, as they bound the MFA challenge made with it.
   */
  async startStepUp(userId: string): Promise<StartedCeremony> {
    const own = await this.d.store.passkeys.listForUser(userId);
    const options = await generateAuthenticationOptions({
      rpID: this.d.settings.rpId,
      allowCredentials: own.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransport[] })),
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: USER_VERIFICATION,
    });
    const challengeId = await this.storeChallenge("authentication", options.challenge, userId, null);
    return { challengeId, optionsJson: JSON.stringify(options) };
  }

  /**
   * Checks the web login's passkey step for `userId` (the MFA challenge's user) as a passkey
   * sign-in checks its assertion: a challenge issued to that user, spent whatever the outcome; a
   * passkey of that user; origin, RP ID, signature and user verification; a growing counter.
   * Refusals are returned for the MFA challenge to count and audit; a suspected clone is also
   * audited here, as in a passkey sign-in.
   */
  async verifyStepUp(userId: string, challengeId: string, response: AuthenticationResponseJSON, meta: RequestMeta): Promise<StepUpOutcome> {
    const challenge = await this.d.store.passkeys.claimChallenge(challengeId, "authentication", this.d.clock.now(), userId);
    // Claimed only if issued to this user; checked again here rather than trusted to the query.
    if (!challenge || challenge.userId !== userId)
      return {
        reason: "challenge_invalid",
        error: unauthenticated("PASSKEY_CHALLENGE_INVALID", "the WebAuthn challenge is unknown, used or expired; sign in again"),
      };
    const checked = await this.checkAssertion(response, challenge);
    if ("reason" in checked) return { ...checked, error: authFailed() };
    const { passkey, assertion } = checked;
    const regressed = await this.d.store.transaction((tx) => this.recordCounter(tx, passkey, assertion, meta));
    return regressed ? { reason: "counter_regressed", error: regressed, passkey } : { passkey };
  }

  async list(caller: UserPrincipal): Promise<PasskeyRow[]> {
    return this.d.store.passkeys.listForUser(caller.userId);
  }

  /** Removes one of the caller's passkeys; someone else's and a missing one get the same answer. */
  async remove(caller: UserPrincipal, id: string, meta: RequestMeta): Promise<void> {
    const notYours = () => permissionDenied("PASSKEY_NOT_OWNED", "no such passkey among yours");
    const removed = await this.d.store.transaction(async (tx) => {
      const row = await tx.passkeys.deleteOwn(id, caller.userId);
      if (row)
        await this.d.audit.record(tx, {
          eventType: "passkey.remove",
          outcome: "success",
          ...actor(caller.userId, meta),
          targetType: "passkey",
          targetId: row.id,
        });
      return row;
    });
    if (!removed) throw notYours();
  }

  /**
   * Every check of an assertion but the counter's: a registered credential, of the challenge's
   * user when it names one, with that user's handle, signed over this challenge.
   */
  private async checkAssertion(response: AuthenticationResponseJSON, challenge: WebauthnChallengeRow): Promise<CheckedAssertion> {
    const passkey = await this.d.store.passkeys.findByCredentialId(response.id);
    if (!passkey) return { reason: "unknown_credential" };
    if (challenge.userId && challenge.userId !== passkey.userId) return { reason: "credential_not_allowed", passkey };
    if (response.response.userHandle !== undefined && response.response.userHandle !== Buffer.from(userHandleOf(passkey.userId)).toString("base64url"))
      return { reason: "user_handle_mismatch", passkey };
    const assertion = await this.verifyAssertion(response, challenge, passkey);
    if (!assertion) return { reason: "verification_failed", passkey };
    return { passkey, assertion };
  }

  /**
   * Stores a verified assertion's counter, which must grow: otherwise the passkey may have been
   * cloned, which is audited, and the assertion is refused (the returned error).
   */
  private async recordCounter(
    tx: PasskeyPorts,
    passkey: PasskeyRow,
    assertion: { newCounter: number; credentialBackedUp: boolean },
    meta: RequestMeta,
  ): Promise<DomainError | undefined> {
    const updated = await tx.passkeys.recordAssertion(passkey.id, assertion.newCounter, assertion.credentialBackedUp, this.d.clock.now());
    if (updated) return undefined;
    const current = await tx.passkeys.findByCredentialId(passkey.credentialId);
    if (!current) return authFailed();
    await this.d.audit.record(tx, {
      eventType: "passkey.clone_suspected",
      outcome: "failure",
      ...actor(passkey.userId, meta),
      targetType: "passkey",
      targetId: passkey.id,
      details: { stored_counter: String(current.signCount), presented_counter: String(assertion.newCounter) },
    });
    return unauthenticated("PASSKEY_COUNTER_REGRESSED", "the passkey's signature counter did not increase; it may have been cloned");
  }

  /** The library's verdict, or undefined for any refusal (bad bytes, signature, origin, RP ID, flags). */
  private async verifyAssertion(response: ReturnType<typeof parseAuthenticationResponse>, challenge: WebauthnChallengeRow, passkey: PasskeyRow) {
    try {
      const v = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.d.settings.origins,
        expectedRPID: this.d.settings.rpId,
        // Counter 0 turns off the library's own counter check, which runs before the signature
        // check; ours runs after it, so only a correctly signed assertion can raise a clone alert.
        credential: {
          id: passkey.credentialId,
          publicKey: new Uint8Array(Buffer.from(passkey.publicKey, "base64url")),
          counter: 0,
          transports: passkey.transports as AuthenticatorTransport[],
        },
        requireUserVerification: true,
      });
      return v.verified ? v.authenticationInfo : undefined;
    } catch {
      return undefined;
    }
  }

  private async storeChallenge(kind: "registration" | "authentication", challenge: string, userId: string | null, name: string | null): Promise<string> {
    const now = this.d.clock.now();
    await this.purgeExpired(now);
    const id = `wac_${randomToken(24)}`;
    await this.d.store.passkeys.createChallenge({
      id,
      kind,
      challenge,
      userId,
      name,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000),
    });
    return id;
  }

  /** Expired challenges are useless: they are swept now and then as new ones are made. */
  private async purgeExpired(now: Date): Promise<void> {
    if (now.getTime() - this.lastPurge < PURGE_INTERVAL_MS) return;
    this.lastPurge = now.getTime();
    await this.d.store.passkeys.deleteChallengesExpiredBefore(now);
  }

  private decoyCredentialId(email: string): string {
    return createHmac("sha256", this.d.settings.decoyKey).update(`passkey-decoy:${email}`).digest("base64url");
  }

  private async requireUser(caller: UserPrincipal): Promise<UserRow> {
    const user = await this.d.store.users.findById(caller.userId);
    if (!user || user.disabled) throw unauthenticated();
    return user;
  }

  /** Audits a refused ceremony on its own (a claimed challenge stays spent) and returns the error. */
  private async refuse(
    eventType: "passkey.register" | "auth.passkey_login",
    reason: string,
    meta: RequestMeta,
    o: { error: DomainError; challengeId: string; userId?: string; passkey?: PasskeyRow },
  ): Promise<DomainError> {
    await this.d.audit.recordAlone({
      eventType,
      outcome: "failure",
      ...actor(o.userId ?? "", meta),
      ...(o.passkey ? { targetType: "passkey", targetId: o.passkey.id } : {}),
      details: { reason, challenge_id: o.challengeId },
    });
    return o.error;
  }
}

/** The decoy key, derived from the master key so that every instance offers the same decoys. */
export function decoyKeyFrom(masterKey: string): Buffer {
  return createHash("sha256").update(`warden-passkey-decoy:${masterKey}`).digest();
}

/** One answer for every failed assertion, whatever part was wrong. */
function authFailed(): DomainError {
  return unauthenticated("PASSKEY_AUTHENTICATION_FAILED", "passkey sign-in failed");
}

function tooManyPasskeys(): DomainError {
  return new DomainError("failed_precondition", "PASSKEY_LIMIT_REACHED", `at most ${MAX_PASSKEYS_PER_USER} passkeys per account; remove one first`);
}

/** Length and characters are the proto's rules; a blank name gets the default. */
function checkName(raw: string): string {
  return raw.trim() || DEFAULT_NAME;
}

export function checkChallengeId(id: string, field = "challenge_id"): void {
  if (id === "") throw invalidArgument(field, "is required");
  if (!CHALLENGE_ID.test(id)) throw invalidArgument(field, "is not a challenge this server issued");
}

/** The WebAuthn user handle: the user's UUID as 16 bytes (no personal data). */
function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ""), "hex"));
}

function actor(userId: string, meta: RequestMeta): Pick<AuditEntry, "actorType" | "actorId" | "clientIp" | "requestId"> {
  return userActor(userId, meta);
}
