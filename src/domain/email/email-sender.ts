export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Where mail goes out: SMTP in production, the log without a server (src/mail/). */
export interface EmailSender {
  send(message: EmailMessage): Promise<void>;
}
