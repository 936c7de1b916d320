/** What the transport knows about a call, for sessions and the audit log. */
export interface RequestMeta {
  clientIp: string;
  userAgent: string;
  requestId: string;
  /** The RPC, "/warden.auth.v1.AuthService/Login" (policies may look at it). */
  method?: string;
}
