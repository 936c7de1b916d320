/** What the transport knows about a call, for sessions and the audit log. */
export interface RequestMeta {
  clientIp: string;
  userAgent: string;
  requestId: string;
}
