/** Who is calling, as the authn interceptor established it. */
export interface UserPrincipal {
  kind: "user";
  userId: string;
  sessionId: string;
  admin: boolean;
  roles: string[];
  /** How the credential was presented: a JWT access token or a session bearer. */
  credential: "access_token" | "session";
  mfaAt?: Date;
}

export type Principal = UserPrincipal;
