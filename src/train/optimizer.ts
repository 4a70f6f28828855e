/**
 * torch.optim.Optimizer: parameter groups (each with its own hyperparameters), per-parameter state (GPU
 * tensors and step counts), zeroGrad, and state dicts in torch's layout. SGD, Adam and AdamW extend it.
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import { keep } from '../autograd/scope';

/** One parameter group: its tensors and hyperparameters (torch's param_groups[i], keys in camelCase). */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  weightDecay: number;
  /** The lr a scheduler's schedule starts from (torch's initial_lr), set by the first scheduler bound to the optimizer. */
  initialLr?: number;
  /** OneCycleLR's peak and final lr (torch's max_lr, min_lr). */
  maxLr?: number;
  minLr?: number;
  /** OneCycleLR's momentum range when it cycles the momentum (torch's max_momentum, base_momentum). */
  maxMomentum?: number;
  baseMomentum?: number;
  /** SGD's momentum (cycled by OneCycleLR). */
  momentum?: number;
  /** Adam's (beta1, beta2); OneCycleLR cycles beta1. */
  betas?: [number, number];
}

/** A group given to a constructor: its parameters, and the hyperparameters that differ from the optimizer's options. */
export type ParamGroupSpec<G extends ParamGroup> = { params: Tensor | Tensor[] } & Partial<Omit<G, 'params'>>;

/** What an optimizer's constructor takes: a list of tensors (one group), or a list of groups. */
export type ParamsArg<G extends ParamGroup> = readonly Tensor[] | readonly ParamGroupSpec<G>[];

/** A value in a parameter's state: a tensor of the parameter's shape (a float32 array when loaded from a file), or a step count. */
export type StateValue = Tensor | Float32Array | number | null;

/** The layout of torch's optimizer.state_dict(): state by parameter index across groups, and the groups' hyperparameters (snake_case). */
export interface OptimizerStateDict {
  state: Record<number, Record<string, StateValue>>;
  param_groups: ({ params: number[]; lr: number } & Record<string, unknown>)[];
}

/** Which state entries an optimizer keeps per parameter (torch's names). */
export interface StateKeys {
  /** Tensors of the parameter's shape (momentum_buffer, exp_avg, …). */
  tensors: readonly string[];
  /** Numbers (step). */
  scalars: readonly string[];
}

type StateRecord = Record<string, Tensor | number>;

/** One parameter's update in a step: the parameter, its gradient and its (mutable) state record. */
export interface ParamUpdate {
  p: Tensor;
  grad: Tensor;
  state: StateRecord;
}

const OPTIONAL_GROUP_KEYS = ['initialLr', 'maxLr', 'minLr', 'maxMomentum', 'baseMomentum'] as const;
/** torch's flags for behaviours this engine does not have: accepted in a loaded state dict only at their defaults. */
const TORCH_FLAGS: Record<string, unknown[]> = {
  maximize: [false],
  foreach: [null, false],
  capturable: [false],
  differentiable: [false],
  fused: [null, false],
};

/** camelCase → torch's snake_case (weightDecay → weight_decay), for state dict keys. */
export const toSnake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const toCamel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const copyValue = (v: unknown): unknown => (Array.isArray(v) ? [...v] : v);

/** The message for an empty parameter list (the usual cause: a module that did not register its layers). */
function emptyParamsMessage(name: string): string {
  return `${name}: the parameter list is empty. If it comes from model.parameters(), register the layers and tensors with registerModule() / registerParameter() in the module constructors.`;
}

/**
 * torch.optim.Optimizer: subclasses give the hyperparameter checks and the per-parameter update; this class keeps
 * the groups, the state and the state dicts.
 */
export abstract class Optimizer<G extends ParamGroup = ParamGroup> {
  /** The parameter groups (torch's param_groups): a scheduler or the caller may change their hyperparameters between steps. */
  readonly paramGroups: G[] = [];
  /** The options' hyperparameters, which groups inherit unless they set their own (torch's defaults). */
  readonly defaults: Readonly<Omit<G, 'params'>>;
  /** Per-parameter state, created on a parameter's first step. */
  private state = new Map<Tensor, StateRecord>();

  protected constructor(
    /** The optimizer's name in messages (SGD, Adam, AdamW). */
    readonly name: string,
    params: ParamsArg<G>,
    defaults: Omit<G, 'params'>,
    private readonly stateKeys: StateKeys,
  ) {
    this.validateGroup(defaults);
    this.defaults = defaults;
    const list = [...params];
    if (list.length === 0) throw new Error(emptyParamsMessage(name));
    const specs: ParamGroupSpec<G>[] = list.every((p) => p instanceof Tensor) ? [{ params: list as Tensor[] } as ParamGroupSpec<G>] : (list as ParamGroupSpec<G>[]);
    for (const s of specs) this.addParamGroup(s);
    if (this.paramGroups.every((g) => g.params.length === 0)) throw new Error(emptyParamsMessage(name));
  }

  /** Throw on a hyperparameter torch's constructor would refuse (the message names the optimizer and the value). */
  protected abstract validateGroup(h: Omit<G, 'params'>): void;

  /** Encode the in-place update of one parameter that has a gradient; `state` is its (mutable) state record. */
  protected abstract update(group: G, p: Tensor, grad: Tensor, state: StateRecord): void;

  /**
   * Encode the updates of one group's parameters that have a gradient, in order. The default runs `update` for each;
   * an optimizer with a multi-tensor kernel (SGD) overrides it to update several parameters a dispatch.
   */
  protected updateGroup(group: G, items: readonly ParamUpdate[]): void {
    for (const it of items) this.update(group, it.p, it.grad, it.state);
  }

  /** Add a group (torch's add_param_group): hyperparameters not given come from the options. */
  addParamGroup(spec: ParamGroupSpec<G>): void {
    if (!spec || typeof spec !== 'object' || !('params' in spec)) throw new Error(`${this.name}: a parameter group must be an object with params`);
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const seen = new Set<Tensor>();
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new Error(`${this.name}: a parameter group holds something that is not a Tensor`);
      if (seen.has(p)) throw new Error(`${this.name}: a parameter appears twice in the list${p.name ? ` ('${p.name}')` : ''}`);
      seen.add(p);
      if (this.paramGroups.some((g) => g.params.includes(p))) throw new Error(`${this.name}: a parameter appears in more than one parameter group${p.name ? ` ('${p.name}')` : ''}`);
      if (p.dtype !== 'f32') throw new Error(`${this.name}: parameter${p.name ? ` '${p.name}'` : ''} ${shapeStr(p.shape)} is not float32`);
    }
    const group = { ...copyOptions(this.defaults), ...copyOptions(spec), params } as G;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Every parameter, group after group (the order of the state dict's indices). */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The first group's learning rate; setting it sets every group's. */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  set lr(value: number) {
    if (!(value >= 0)) throw new Error(`${this.name}: invalid learning rate ${value}`);
    for (const g of this.paramGroups) g.lr = value;
  }

  /** Update every parameter that has a gradient (the others are skipped, as in PyTorch). Only encodes GPU work. */
  step(): void {
    let index = 0;
    for (const g of this.paramGroups) {
      this.validateGroup(g);
      const items: ParamUpdate[] = [];
      for (const p of g.params) {
        const i = index++;
        const grad = p.grad;
        if (!grad) continue;
        if (grad.size !== p.size) throw new Error(`${this.name}: the gradient ${shapeStr(grad.shape)} of parameter ${i}${p.name ? ` '${p.name}'` : ''} does not match ${shapeStr(p.shape)}`);
        let s = this.state.get(p);
        if (!s) this.state.set(p, (s = {}));
        items.push({ p, grad, state: s });
      }
      if (items.length) this.updateGroup(g, items);
    }
  }

  /** A state tensor of the parameter's shape, owned by the optimizer (kept outside any scope); zero-filled when `zero`. */
  protected stateTensor(p: Tensor, zero: boolean): Tensor {
    return keep(zero ? Tensor.zeros(p.shape, p.rt) : Tensor.empty(p.shape, 'f32', p.rt));
  }

  /** Drop every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward() allocates fresh ones. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /**
   * The state and hyperparameters, laid out like PyTorch's optimizer.state_dict(): state by parameter index
   * (counted across groups; only parameters that have state), param_groups with snake_case keys. The tensors
   * are the optimizer's own (not copies): read them, do not dispose them.
   */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s && Object.keys(s).length) state[i] = { ...s };
    });
    let next = 0;
    const param_groups = this.paramGroups.map((g) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params' && v !== undefined) out[toSnake(k)] = copyValue(v);
      out.params = g.params.map(() => next++);
      return out as OptimizerStateDict['param_groups'][number];
    });
    return { state, param_groups };
  }

  /**
   * Restore the hyperparameters (lr included, as PyTorch does) and copy the state tensors, given as tensors or
   * float32 arrays, into the optimizer's own. Parameters are matched by position, group by group. A parameter
   * without state in `sd` starts afresh. Nothing changes when the state dict is refused.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    const saved = sd?.param_groups;
    if (!Array.isArray(saved) || saved.length !== this.paramGroups.length) {
      throw new Error(`${where}: the state has ${Array.isArray(saved) ? saved.length : 'no'} param groups, this optimizer ${this.paramGroups.length}`);
    }
    const hypers = saved.map((sg, gi) => this.groupFromDict(sg, gi));
    const byIndex = new Map<string, Tensor>();
    saved.forEach((sg, gi) => {
      const mine = this.paramGroups[gi].params;
      if (!Array.isArray(sg.params) || sg.params.length !== mine.length) {
        throw new Error(`${where}: the state's param group ${gi} has ${Array.isArray(sg.params) ? sg.params.length : 'no'} parameters, this optimizer's ${mine.length}`);
      }
      sg.params.forEach((id, k) => byIndex.set(String(id), mine[k]));
    });
    const fresh = new Map<Tensor, StateRecord>();
    try {
      for (const [id, entry] of Object.entries(sd.state ?? {})) {
        const p = byIndex.get(id);
        if (!p) throw new Error(`${where}: the state names parameter ${id}, which no param group lists`);
        fresh.set(p, this.stateFromDict(entry, p, id));
      }
    } catch (e) {
      for (const s of fresh.values()) disposeRecord(s);
      throw e;
    }
    this.disposeState();
    this.state = fresh;
    hypers.forEach((h, gi) => Object.assign(this.paramGroups[gi], h));
  }

  /** One saved group's hyperparameters (camelCase), checked; scheduler keys absent from it keep their values. */
  private groupFromDict(sg: Record<string, unknown>, gi: number): Omit<G, 'params'> {
    const where = `${this.name}.loadStateDict`;
    if (!sg || typeof sg !== 'object') throw new Error(`${where}: param group ${gi} is not an object`);
    const known = new Set<string>([...Object.keys(this.defaults), ...OPTIONAL_GROUP_KEYS]);
    const h: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(sg)) {
      if (key === 'params') continue;
      const k = toCamel(key);
      if (key in TORCH_FLAGS) {
        if (!TORCH_FLAGS[key].includes(v)) throw new Error(`${where}: param group ${gi} sets ${key} = ${JSON.stringify(v)}, which ${this.name} does not support`);
        continue;
      }
      if (!known.has(k)) throw new Error(`${where}: param group ${gi} has '${key}', which ${this.name} does not know (a state dict of another optimizer?)`);
      h[k] = copyValue(v);
    }
    for (const k of Object.keys(this.defaults)) {
      if (!(k in h)) throw new Error(`${where}: param group ${gi} has no '${toSnake(k)}' (a state dict of another optimizer?)`);
    }
    this.validateGroup(h as Omit<G, 'params'>);
    return h as Omit<G, 'params'>;
  }

  private stateFromDict(entry: Record<string, StateValue>, p: Tensor, id: string): StateRecord {
    const where = `${this.name}.loadStateDict`;
    const out: StateRecord = {};
    try {
      for (const [k, v] of Object.entries(entry ?? {})) {
        if (v === null || v === undefined) continue;
        if (this.stateKeys.scalars.includes(k)) {
          const n = typeof v === 'number' ? v : v instanceof Float32Array && v.length === 1 ? v[0] : NaN;
          if (!Number.isFinite(n) || n < 0) throw new Error(`${where}: state ${k} of parameter ${id} must be a count ≥ 0, got ${String(v)}`);
          out[k] = n;
        } else if (this.stateKeys.tensors.includes(k)) {
          if (typeof v === 'number') throw new Error(`${where}: state ${k} of parameter ${id} must be a tensor, got a number`);
          const n = v instanceof Tensor ? v.size : v.length;
          if (n !== p.size) throw new Error(`${where}: ${k} of parameter ${id} has ${n} values, the parameter ${shapeStr(p.shape)} ${p.size}`);
          const t = this.stateTensor(p, false);
          out[k] = t;
          if (v instanceof Tensor) p.rt.copy(v.buffer, 0, t.buffer, 0, p.size * 4, `${this.name}.loadStateDict`);
          else p.rt.write(t.buffer, v);
        } else {
          throw new Error(`${where}: parameter ${id} has state '${k}', which ${this.name} does not keep (a state dict of another optimizer?)`);
        }
      }
    } catch (e) {
      disposeRecord(out);
      throw e;
    }
    return out;
  }

  private disposeState(): void {
    for (const s of this.state.values()) disposeRecord(s);
    this.state = new Map();
  }

  /** Free the optimizer's state tensors (its parameters stay the caller's). */
  dispose(): void {
    this.disposeState();
  }
}

function disposeRecord(s: StateRecord): void {
  for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
}

/** A shallow copy of an options or group object, with its arrays (betas) copied so that groups never share one. */
function copyOptions<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'params' && v !== undefined) out[k] = copyValue(v);
  return out as T;
}
