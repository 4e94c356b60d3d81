// TypeBox schema kinds for the typed arrays msgpackr carries as raw bytes. TypeBox only ships
// Uint8Array, so the others are user-defined kinds checked with instanceof (Value.Check calls
// the function registered here). Length limits come from the message checks, not the schema.

import { Kind, Type, TypeRegistry, type TSchema, type TUnsafe } from '@sinclair/typebox';

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Uint16ArrayConstructor
  | Int8ArrayConstructor
  | Int32ArrayConstructor;

function typedArrayKind<T>(ctor: TypedArrayCtor): () => TUnsafe<T> {
  const kind = ctor.name;
  if (!TypeRegistry.Has(kind)) TypeRegistry.Set(kind, (_schema: TSchema, value: unknown) => value instanceof ctor);
  return () => Type.Unsafe<T>({ [Kind]: kind });
}

export const TFloat32Array = typedArrayKind<Float32Array>(Float32Array);
export const TUint16Array = typedArrayKind<Uint16Array>(Uint16Array);
export const TInt8Array = typedArrayKind<Int8Array>(Int8Array);
export const TInt32Array = typedArrayKind<Int32Array>(Int32Array);
