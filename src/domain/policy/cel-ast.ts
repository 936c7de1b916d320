import type { parse } from "@bufbuild/cel";

/** The parsed expression as @bufbuild/cel returns it (cel.expr.ParsedExpr). */
export type ParsedExpr = ReturnType<typeof parse>;
export type Expr = ParsedExpr["expr"];
type ExprKind = Expr["exprKind"];

/** The node of one kind of expression ("callExpr", "selectExpr", ...). */
export type ExprOf<C extends NonNullable<ExprKind["case"]>> = Extract<ExprKind, { case: C }>["value"];
