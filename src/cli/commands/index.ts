import type { CommandSpec } from "../command.js";

/**
 * Command groups by their first word, loaded when used: a run loads the generated code of the
 * services it calls, not of all of them (each module costs a trip through tsx's loader).
 */
const GROUPS: [string[], () => Promise<CommandSpec[]>][] = [
  [["login", "logout", "status"], async () => (await import("./auth.js")).authCommands],
  [["certs"], async () => (await import("./certs.js")).certCommands],
  [["tokens"], async () => (await import("./tokens.js")).tokenCommands],
  [["nodes"], async () => (await import("./nodes.js")).nodeCommands],
  [["agent-identities"], async () => (await import("./agent-identities.js")).agentIdentityCommands],
  [["users"], async () => (await import("./users.js")).userCommands],
  [["roles"], async () => (await import("./roles.js")).roleCommands],
  [["ca"], async () => (await import("./ca.js")).caCommands],
];

/** Every command, in the order the overview lists them. */
export async function allCommands(): Promise<CommandSpec[]> {
  return (await Promise.all(GROUPS.map(([, load]) => load()))).flat();
}

/** The commands of the group `firstWord` names; every command when it names none. */
export async function commandsFor(firstWord: string | undefined): Promise<CommandSpec[]> {
  const group = GROUPS.find(([words]) => firstWord !== undefined && words.includes(firstWord));
  return group ? group[1]() : allCommands();
}
