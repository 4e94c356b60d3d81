// @splitlora/protocol: what travels between the server and browser clients, and how it is
// checked. Pure TypeScript on @splitlora/tensor's host tensors; runs in browsers and Node.
export { ERROR_CODES, ERROR_CODE_LIST, ProtocolError, isProtocolError, type ErrorCode } from './errors';
export { msgpackParser, Encoder, Decoder, PacketType, protocol, checkPacket, type Packet } from './parser';
export {
  WIRE_FORMATS,
  encodeTensor,
  decodeTensor,
  checkWireTensor,
  assertFinite,
  assertWireFinite,
  wireBytes,
  numel,
  f32ToF16,
  f16ToF32,
  quantizeInt8,
  dequantizeInt8,
  type WireFormat,
  type WireTensor,
  type HostTensor,
  type TensorRecord,
} from './wire';
export * from './messages';
export type * from './api';
export { checkActivations, checkAdapter, checkClientState, checkFront, checkTopGradient, type ActivationLimits, type AdapterLimits } from './checks';
export {
  maxMessageBytes,
  activationBytes,
  MESSAGE_OVERHEAD_BYTES,
  DEFAULT_SIZE_MARGIN,
  type MessageSizeInput,
} from './limits';
