export * from "./users.js";
export * from "./sessions.js";
export * from "./signing-keys.js";
export * from "./audit.js";
export * from "./organizations.js";
export * from "./roles.js";
export * from "./machine-credentials.js";
