/** What a backchannel decision tells the mail client's user, by outcome. */
export type StatusKind = "ok" | "invalid_credentials" | "too_many_attempts" | "mfa_required" | "temporarily_unavailable";

export const LANGUAGES = ["en", "de", "fr"] as const;
export type Language = (typeof LANGUAGES)[number];

const MESSAGES: Record<Language, Record<StatusKind, string>> = {
  en: {
    ok: "Authentication succeeded",
    invalid_credentials: "Invalid login or password",
    too_many_attempts: "Too many failed login attempts; try again later",
    mfa_required: "Your organization requires a second factor, which this client cannot provide; sign in on the web",
    temporarily_unavailable: "Authentication is temporarily unavailable; try again later",
  },
  de: {
    ok: "Anmeldung erfolgreich",
    invalid_credentials: "Ungültiger Benutzername oder ungültiges Passwort",
    too_many_attempts: "Zu viele fehlgeschlagene Anmeldeversuche; bitte später erneut versuchen",
    mfa_required: "Ihre Organisation verlangt einen zweiten Faktor, den dieses Programm nicht liefern kann; bitte im Web anmelden",
    temporarily_unavailable: "Die Anmeldung ist vorübergehend nicht möglich; bitte später erneut versuchen",
  },
  fr: {
    ok: "Authentification réussie",
    invalid_credentials: "Identifiant ou mot de passe incorrect",
    too_many_attempts: "Trop de tentatives de connexion échouées ; réessayez plus tard",
    mfa_required: "Votre organisation exige un second facteur que ce client ne peut pas fournir ; connectez-vous sur le web",
    temporarily_unavailable: "L'authentification est momentanément indisponible ; réessayez plus tard",
  },
};

/** The text for an outcome; a language missing a text falls back to the default language's. */
export function statusMessage(kind: StatusKind, language: Language, fallback: Language): string {
  return MESSAGES[language]?.[kind] ?? MESSAGES[fallback][kind];
}

/**
 * The language of the answer: the configured default when it is forced, else the first of the
 * caller's Accept-Language ranges (by q, then order) that we speak, else the default.
 */
export function pickLanguage(acceptLanguage: string | null, opts: { defaultLanguage: Language; force: boolean }): Language {
  if (opts.force || !acceptLanguage) return opts.defaultLanguage;
  const ranges = acceptLanguage
    .slice(0, 512)
    .split(",")
    .map((part, order) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { primary: tag.trim().toLowerCase().split("-")[0]!, q: q === undefined ? 1 : Number(q), order };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const r of ranges) {
    if (r.primary === "*") return opts.defaultLanguage;
    if ((LANGUAGES as readonly string[]).includes(r.primary)) return r.primary as Language;
  }
  return opts.defaultLanguage;
}
