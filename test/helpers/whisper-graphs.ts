/**
 * Whisper's encoder and decoder as ONNX graphs, built node by node from one set of weights, in the
 * two layouts that ship: Hugging Face's (encoder_model.onnx -> last_hidden_state;
 * decoder_model_merged.onnx with an If on use_cache_branch choosing between the cross-attention
 * keys it computes and the ones it was given) and ONNX Runtime GenAI's (the encoder also returns
 * every decoder layer's cross-attention keys and values; the decoder takes int32 ids and
 * past_key_self_%d / past_key_cross_%d).
 */
import { GraphBuilder, onnx, valueInfo } from '../../workers/optimize/onnx-graph.js';

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const I32 = onnx.TensorProto.DataType.INT32;
const BOOL = onnx.TensorProto.DataType.BOOL;

export interface WhisperDims {
  mels: number;
  d: number;
  heads: number;
  ffn: number;
  encoderLayers: number;
  decoderLayers: number;
  audioCtx: number;
  textCtx: number;
  vocab: number;
}

export type Weights = Map<string, { dims: number[]; data: Float32Array }>;

const i64 = (...v: number[]) => BigInt64Array.from(v.map(BigInt));

class Net {
  readonly g = new GraphBuilder();
  private consts = 0;
  constructor(readonly w: Weights, readonly dims: WhisperDims, private readonly tag = 'main') {}

  weight(name: string): string {
    if (!this.g.initializers.some((t) => t.name === name)) {
      const t = this.w.get(name);
      if (!t) throw new Error(`no weight ${name}`);
      this.g.weight(name, t.dims, t.data);
    }
    return name;
  }

  ints(...v: number[]): string {
    return this.g.weight(`${this.tag}_i64_${this.consts++}`, [v.length], i64(...v), I64);
  }

  scalar(v: number): string {
    return this.g.weight(`${this.tag}_f_${this.consts++}`, [], Float32Array.of(v));
  }

  op(type: string, inputs: string[], attrs: Record<string, number | number[] | string> = {}, names?: string[]): string {
    return this.g.op(type, inputs, attrs, names?.length ?? 1, '', names)[0];
  }

  linear(x: string, prefix: string, bias = true): string {
    const y = this.op('MatMul', [x, this.weight(`${prefix}.weight`)]);
    return bias ? this.op('Add', [y, this.weight(`${prefix}.bias`)]) : y;
  }

  layerNorm(x: string, prefix: string): string {
    return this.op('LayerNormalization', [x, this.weight(`${prefix}.weight`), this.weight(`${prefix}.bias`)], { axis: -1, epsilon: 1e-5 });
  }

  /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as torch's default. */
  gelu(x: string): string {
    const e = this.op('Erf', [this.op('Mul', [x, this.scalar(Math.SQRT1_2)])]);
    return this.op('Mul', [this.op('Mul', [x, this.scalar(0.5)]), this.op('Add', [e, this.scalar(1)])]);
  }

  /** [B, T, d] -> [B, H, T, hd] */
  heads(x: string): string {
    const { heads, d } = this.dims;
    return this.op('Transpose', [this.op('Reshape', [x, this.ints(0, -1, heads, d / heads)])], { perm: [0, 2, 1, 3] });
  }

  /** softmax(q k^T / sqrt(hd) + mask) v, merged back to [B, T, d] and projected. */
  attend(q: string, k: string, v: string, prefix: string, mask?: string): string {
    const hd = this.dims.d / this.dims.heads;
    let s = this.op('Mul', [this.op('MatMul', [q, this.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), this.scalar(1 / Math.sqrt(hd))]);
    if (mask) s = this.op('Add', [s, mask]);
    const p = this.op('Softmax', [s], { axis: -1 });
    const o = this.op('Reshape', [this.op('Transpose', [this.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] }), this.ints(0, -1, this.dims.d)]);
    return this.linear(o, `${prefix}.out_proj`);
  }

  mlp(x: string, prefix: string): string {
    return this.linear(this.gelu(this.linear(this.layerNorm(x, `${prefix}.final_layer_norm`), `${prefix}.fc1`)), `${prefix}.fc2`);
  }

  encoder(features: string): string {
    const c1 = this.gelu(this.op('Conv', [features, this.weight('encoder.conv1.weight'), this.weight('encoder.conv1.bias')], { pads: [1, 1], kernel_shape: [3] }));
    const c2 = this.gelu(this.op('Conv', [c1, this.weight('encoder.conv2.weight'), this.weight('encoder.conv2.bias')], { pads: [1, 1], strides: [2], kernel_shape: [3] }));
    let x = this.op('Add', [this.op('Transpose', [c2], { perm: [0, 2, 1] }), this.weight('encoder.embed_positions.weight')]);
    for (let l = 0; l < this.dims.encoderLayers; l++) {
      const p = `encoder.layers.${l}`;
      const h = this.layerNorm(x, `${p}.self_attn_layer_norm`);
      const q = this.heads(this.linear(h, `${p}.self_attn.q_proj`));
      const k = this.heads(this.linear(h, `${p}.self_attn.k_proj`, false));
      const v = this.heads(this.linear(h, `${p}.self_attn.v_proj`));
      x = this.op('Add', [x, this.attend(q, k, v, `${p}.self_attn`)]);
      x = this.op('Add', [x, this.mlp(x, p)]);
    }
    return this.layerNorm(x, 'encoder.layer_norm');
  }

  crossKV(hidden: string, layer: number, names?: [string, string]): [string, string] {
    const p = `decoder.layers.${layer}.encoder_attn`;
    const k = this.heads(this.linear(hidden, `${p}.k_proj`, false));
    const v = this.heads(this.linear(hidden, `${p}.v_proj`));
    if (!names) return [k, v];
    return [this.op('Identity', [k], {}, [names[0]]), this.op('Identity', [v], {}, [names[1]])];
  }

  /** The decoder over new ids given past self-attention caches and each layer's cross keys/values. */
  decoder(ids: string, pastSelf: [string, string][], cross: [string, string][], presentNames: [string, string][]): string {
    const pastLen = this.op('Gather', [this.op('Shape', [pastSelf[0][0]]), this.ints(2)], { axis: 0 });
    const newLen = this.op('Gather', [this.op('Shape', [ids]), this.ints(1)], { axis: 0 });
    const total = this.op('Add', [pastLen, newLen]);
    const positions = this.op('Range', [this.op('Squeeze', [pastLen]), this.op('Squeeze', [total]), this.op('Squeeze', [this.ints(1)])]);
    const tok = this.op('Gather', [this.weight('decoder.embed_tokens.weight'), ids], { axis: 0 });
    let x = this.op('Add', [tok, this.op('Gather', [this.weight('decoder.embed_positions.weight'), positions], { axis: 0 })]);
    // Causal mask over [new, past + new]: key c is visible to the query at absolute position r when c <= r.
    const cols = this.op('Range', [this.op('Squeeze', [this.ints(0)]), this.op('Squeeze', [total]), this.op('Squeeze', [this.ints(1)])]);
    const future = this.op('Greater', [this.op('Unsqueeze', [cols, this.ints(0)]), this.op('Unsqueeze', [positions, this.ints(1)])]);
    const mask = this.op('Where', [future, this.scalar(-1e9), this.scalar(0)]);
    for (let l = 0; l < this.dims.decoderLayers; l++) {
      const p = `decoder.layers.${l}`;
      const h = this.layerNorm(x, `${p}.self_attn_layer_norm`);
      const q = this.heads(this.linear(h, `${p}.self_attn.q_proj`));
      const k = this.op('Concat', [pastSelf[l][0], this.heads(this.linear(h, `${p}.self_attn.k_proj`, false))], { axis: 2 }, [presentNames[l][0]]);
      const v = this.op('Concat', [pastSelf[l][1], this.heads(this.linear(h, `${p}.self_attn.v_proj`))], { axis: 2 }, [presentNames[l][1]]);
      x = this.op('Add', [x, this.attend(q, k, v, `${p}.self_attn`, mask)]);
      const hc = this.layerNorm(x, `${p}.encoder_attn_layer_norm`);
      const qc = this.heads(this.linear(hc, `${p}.encoder_attn.q_proj`));
      x = this.op('Add', [x, this.attend(qc, cross[l][0], cross[l][1], `${p}.encoder_attn`)]);
      x = this.op('Add', [x, this.mlp(x, p)]);
    }
    const out = this.layerNorm(x, 'decoder.layer_norm');
    // Tied output: the token embedding, transposed.
    return this.op('MatMul', [out, this.op('Transpose', [this.weight('decoder.embed_tokens.weight')], { perm: [1, 0] })], {}, ['logits']);
  }
}

const kvDims = (dims: WhisperDims, seq: string) => ['batch_size', dims.heads, seq, dims.d / dims.heads];

export function hfEncoder(w: Weights, dims: WhisperDims): Uint8Array {
  const n = new Net(w, dims);
  const out = n.encoder('input_features');
  n.op('Identity', [out], {}, ['last_hidden_state']);
  return n.g.encode([valueInfo('input_features', F, ['batch_size', dims.mels, 3000])],
    [valueInfo('last_hidden_state', F, ['batch_size', 'encoder_sequence_length', dims.d])], 'crucible-whisper-fixture');
}

export function hfDecoderMerged(w: Weights, dims: WhisperDims): Uint8Array {
  const n = new Net(w, dims);
  const L = dims.decoderLayers;
  const past = (l: number, kind: 'decoder' | 'encoder', kv: 'key' | 'value') => `past_key_values.${l}.${kind}.${kv}`;
  const present = (l: number, kind: 'decoder' | 'encoder', kv: 'key' | 'value') => `present.${l}.${kind}.${kv}`;
  // The If's branches: without a cache the cross keys/values are computed from the encoder's
  // output; with one they are the ones passed in. The branches read the outer graph's weights.
  const branch = (useCache: boolean) => {
    const b = new Net(w, dims, useCache ? 'then' : 'else');
    const outs: string[] = [];
    for (let l = 0; l < L; l++) {
      const names: [string, string] = [`${useCache ? 'cached' : 'computed'}_cross_${l}_key`, `${useCache ? 'cached' : 'computed'}_cross_${l}_value`];
      if (useCache) {
        b.op('Identity', [past(l, 'encoder', 'key')], {}, [names[0]]);
        b.op('Identity', [past(l, 'encoder', 'value')], {}, [names[1]]);
      } else {
        // Weights live in the outer graph; the branch refers to them by name.
        b.op('Transpose', [b.op('Reshape', [b.op('MatMul', ['encoder_hidden_states', `decoder.layers.${l}.encoder_attn.k_proj.weight`]), b.ints(0, -1, dims.heads, dims.d / dims.heads)])], { perm: [0, 2, 1, 3] }, [names[0]]);
        const vp = b.op('Add', [b.op('MatMul', ['encoder_hidden_states', `decoder.layers.${l}.encoder_attn.v_proj.weight`]), `decoder.layers.${l}.encoder_attn.v_proj.bias`]);
        b.op('Transpose', [b.op('Reshape', [vp, b.ints(0, -1, dims.heads, dims.d / dims.heads)])], { perm: [0, 2, 1, 3] }, [names[1]]);
      }
      outs.push(...names);
    }
    return {
      name: useCache ? 'use_cache' : 'no_cache', node: b.g.nodes, initializer: b.g.initializers, input: [],
      output: outs.map((o) => valueInfo(o, F, kvDims(dims, 'encoder_sequence_length_out'))),
    };
  };
  for (let l = 0; l < L; l++) {
    n.weight(`decoder.layers.${l}.encoder_attn.k_proj.weight`);
    n.weight(`decoder.layers.${l}.encoder_attn.v_proj.weight`);
    n.weight(`decoder.layers.${l}.encoder_attn.v_proj.bias`);
  }
  const crossNames = Array.from({ length: L }, (_, l) => [present(l, 'encoder', 'key'), present(l, 'encoder', 'value')]).flat();
  n.g.nodes.push({
    opType: 'If', name: 'cross_cache_if', input: ['use_cache_branch'], output: crossNames, domain: '',
    attribute: [
      { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch(true) },
      { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch(false) },
    ],
  });
  const cross = Array.from({ length: L }, (_, l) => [present(l, 'encoder', 'key'), present(l, 'encoder', 'value')] as [string, string]);
  const pastSelf = Array.from({ length: L }, (_, l) => [past(l, 'decoder', 'key'), past(l, 'decoder', 'value')] as [string, string]);
  const presentSelf = Array.from({ length: L }, (_, l) => [present(l, 'decoder', 'key'), present(l, 'decoder', 'value')] as [string, string]);
  n.decoder('input_ids', pastSelf, cross, presentSelf);
  const inputs = [
    valueInfo('input_ids', I64, ['batch_size', 'decoder_sequence_length']),
    valueInfo('encoder_hidden_states', F, ['batch_size', 'encoder_sequence_length', dims.d]),
  ];
  const outputs = [valueInfo('logits', F, ['batch_size', 'decoder_sequence_length', dims.vocab])];
  for (let l = 0; l < L; l++) {
    for (const kv of ['key', 'value'] as const) {
      inputs.push(valueInfo(past(l, 'decoder', kv), F, kvDims(dims, 'past_decoder_sequence_length')));
      inputs.push(valueInfo(past(l, 'encoder', kv), F, kvDims(dims, 'encoder_sequence_length_out')));
      outputs.push(valueInfo(present(l, 'decoder', kv), F, kvDims(dims, 'past_decoder_sequence_length + 1')));
      outputs.push(valueInfo(present(l, 'encoder', kv), F, kvDims(dims, 'encoder_sequence_length_out')));
    }
  }
  inputs.push(valueInfo('use_cache_branch', BOOL, [1]));
  return n.g.encode(inputs, outputs, 'crucible-whisper-fixture');
}

export function genaiEncoder(w: Weights, dims: WhisperDims): Uint8Array {
  const n = new Net(w, dims);
  const hidden = n.encoder('audio_features');
  n.op('Identity', [hidden], {}, ['encoder_hidden_states']);
  const outputs = [valueInfo('encoder_hidden_states', F, ['batch_size', 'num_frames / 2', dims.d])];
  for (let l = 0; l < dims.decoderLayers; l++) {
    n.crossKV(hidden, l, [`present_key_cross_${l}`, `present_value_cross_${l}`]);
    outputs.push(valueInfo(`present_key_cross_${l}`, F, kvDims(dims, 'num_frames / 2')), valueInfo(`present_value_cross_${l}`, F, kvDims(dims, 'num_frames / 2')));
  }
  return n.g.encode([valueInfo('audio_features', F, ['batch_size', dims.mels, 3000])], outputs, 'crucible-whisper-fixture');
}

export function genaiDecoder(w: Weights, dims: WhisperDims): Uint8Array {
  const n = new Net(w, dims);
  const L = dims.decoderLayers;
  const ids = n.op('Cast', ['input_ids'], { to: I64 });
  const pastSelf = Array.from({ length: L }, (_, l) => [`past_key_self_${l}`, `past_value_self_${l}`] as [string, string]);
  const cross = Array.from({ length: L }, (_, l) => [`past_key_cross_${l}`, `past_value_cross_${l}`] as [string, string]);
  const presentSelf = Array.from({ length: L }, (_, l) => [`present_key_self_${l}`, `present_value_self_${l}`] as [string, string]);
  n.decoder(ids, pastSelf, cross, presentSelf);
  const inputs = [valueInfo('input_ids', I32, ['batch_size', 'sequence_length'])];
  const outputs = [valueInfo('logits', F, ['batch_size', 'sequence_length', dims.vocab])];
  for (let l = 0; l < L; l++) {
    inputs.push(valueInfo(`past_key_self_${l}`, F, kvDims(dims, 'past_sequence_length')), valueInfo(`past_value_self_${l}`, F, kvDims(dims, 'past_sequence_length')));
    inputs.push(valueInfo(`past_key_cross_${l}`, F, kvDims(dims, 'encode_sequence_length')), valueInfo(`past_value_cross_${l}`, F, kvDims(dims, 'encode_sequence_length')));
    outputs.push(valueInfo(`present_key_self_${l}`, F, kvDims(dims, 'total_sequence_length')), valueInfo(`present_value_self_${l}`, F, kvDims(dims, 'total_sequence_length')));
  }
  return n.g.encode(inputs, outputs, 'crucible-whisper-fixture');
}
