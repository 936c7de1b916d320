/** TEMPORARY while the zero-trust areas are built: any use throws. Removed before this lands. */
export function notYet<T>(what: string): T {
  return new Proxy({} as object, {
    get(_t, prop) {
      if (prop === "then") return undefined;
      return () => {
        throw new Error(`${what} is not built yet (${String(prop)})`);
      };
    },
  }) as T;
}
