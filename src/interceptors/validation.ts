import type { DescMessage } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import type { Interceptor } from "@connectrpc/connect";
import { createValidator, type Violation } from "@bufbuild/protovalidate";
import { DomainError, type FieldViolation } from "../domain/errors.js";
import { ERROR_REASONS, isReason, type ReasonFor } from "../domain/error-reasons.js";

/**
 * Checks each request against the shape rules its proto declares (buf.validate): ids, lengths,
 * formats, enums that must be set. A request that breaks them is INVALID_ARGUMENT with a field
 * violation per broken rule, before the handler runs. A rule declared with the id of a catalogue
 * reason (e.g. PASSWORD_LENGTH) answers with that reason.
 */
export function validationInterceptor(): Interceptor {
  const validator = createValidator();
  const check = (schema: DescMessage, message: unknown) => {
    const result = validator.validate(schema, message as never);
    if (result.kind === "valid") return;
    // A rule that cannot be evaluated is a defect of the schema, never the caller's fault.
    if (result.kind === "error") throw result.error;
    throw invalid(result.violations);
  };
  return (next) => (req) => {
    if (!req.stream) {
      // A refusal rejects the call's promise, as a throw in an async interceptor would.
      try {
        check(req.method.input, req.message);
      } catch (err) {
        return Promise.reject(err);
      }
      return next(req);
    }
    const messages = req.message;
    return next({
      ...req,
      message: (async function* () {
        for await (const m of messages) {
          check(req.method.input, m);
          yield m;
        }
      })(),
    });
  };
}

function invalid(violations: Violation[]): DomainError {
  const fields: FieldViolation[] = violations.map((v) => ({ field: pathToString(v.field), description: v.message }));
  const declared = violations.map((v) => v.ruleId).find((id) => isReason(id) && (ERROR_REASONS[id].kinds as readonly string[]).includes("invalid_argument"));
  const reason = (declared ?? "INVALID_ARGUMENT") as ReasonFor<"invalid_argument">;
  return new DomainError("invalid_argument", reason, fields.map((f) => `${f.field}: ${f.description}`).join("; "), { violations: fields });
}
