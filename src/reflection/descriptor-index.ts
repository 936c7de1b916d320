import { createRegistry, toBinary, type DescExtension, type DescFile, type DescService, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * What server reflection answers from: the generated descriptors of the served services and
 * every file they import, looked up by file name, by symbol and by extension.
 */
export class DescriptorIndex {
  readonly serviceNames: string[];
  private readonly byName = new Map<string, DescFile>();
  private readonly registry: Registry;
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(services: DescService[]) {
    this.serviceNames = services.map((s) => s.typeName);
    // DescFile.name has no ".proto"; clients ask by the import path, which does.
    const add = (file: DescFile) => {
      if (this.byName.has(file.proto.name)) return;
      this.byName.set(file.proto.name, file);
      file.dependencies.forEach(add);
    };
    for (const s of services) add(s.file);
    this.registry = createRegistry(...this.byName.values());
  }

  fileByName(name: string): DescFile | undefined {
    return this.byName.get(name);
  }

  /**
   * The file that declares a fully-qualified name: a message, enum, service or extension, or a
   * member one level down (a service's method, a message's field, an enum's value).
   */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct) return direct.file;
    const dot = symbol.lastIndexOf(".");
    if (dot < 0) return undefined;
    const parent = this.registry.get(symbol.slice(0, dot));
    const member = symbol.slice(dot + 1);
    switch (parent?.kind) {
      case "service":
        return parent.methods.some((m) => m.name === member) ? parent.file : undefined;
      case "message":
        return parent.fields.some((f) => f.name === member) ? parent.file : undefined;
      case "enum":
        return parent.values.some((v) => v.name === member) ? parent.file : undefined;
      default:
        return undefined;
    }
  }

  fileContainingExtension(extendee: string, number: number): DescFile | undefined {
    const message = this.registry.getMessage(extendee);
    return message ? this.registry.getExtensionFor(message, number)?.file : undefined;
  }

  /** The extension numbers declared for a message type, or undefined when the type is unknown. */
  extensionNumbersOf(extendee: string): number[] | undefined {
    if (!this.registry.getMessage(extendee)) return undefined;
    const numbers: number[] = [];
    for (const t of this.registry) if (t.kind === "extension" && (t as DescExtension).extendee.typeName === extendee) numbers.push((t as DescExtension).number);
    return numbers.sort((a, b) => a - b);
  }

  /**
   * A file and the files it imports, serialized, leaving out those `sent` already holds (a
   * reflection stream sends each file once); the file asked for always goes first.
   */
  withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
    const out: Uint8Array[] = [this.serialized(file)];
    sent.add(file.proto.name);
    const walk = (f: DescFile) => {
      for (const dep of f.dependencies) {
        if (sent.has(dep.proto.name)) continue;
        sent.add(dep.proto.name);
        out.push(this.serialized(dep));
        walk(dep);
      }
    };
    walk(file);
    return out;
  }

  private serialized(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (!bytes) this.encoded.set(file, (bytes = toBinary(FileDescriptorProtoSchema, file.proto)));
    return bytes;
  }
}
