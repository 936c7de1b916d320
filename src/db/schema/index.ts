export * from "./users.js";
export * from "./sessions.js";
export * from "./signing-keys.js";
export * from "./audit.js";
