/**
 * Module: named parameters, buffers and children, with PyTorch's state_dict order (own parameters, own
 * buffers, then each child in registration order) and key names ("layer1.0.conv1.weight").
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import { keep } from '../autograd/scope';

/** An integer buffer kept on the CPU (BatchNorm's num_batches_tracked), saved as int64. */
export class ScalarState {
  constructor(public value: number) {}
}

export type StateValue = Tensor | ScalarState;

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, StateValue>();
  private readonly _children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this._params.set(name, keep(t));
    return t;
  }

  protected registerBuffer<T extends StateValue>(name: string, v: T): T {
    if (v instanceof Tensor) keep(v);
    this._buffers.set(name, v);
    return v;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  children(): [string, Module][] {
    return [...this._children];
  }

  /**
   * Throw when a module holding parameters or buffers, or a parameter, was assigned to a property (or an array property) of this module but
   * never registered: it would be missing from parameters() and stateDict(), and so never trained or saved.
   */
  checkRegistered(): void {
    const registered = new Set<unknown>([...this._params.values(), ...this._buffers.values(), ...this._children.values()]);
    const kind = this.constructor.name;
    for (const [prop, value] of Object.entries(this)) {
      const items: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [`${prop}[${i}]`, v]) : [[prop, value]];
      for (const [where, v] of items) {
        if (registered.has(v)) continue;
        if (v instanceof Module && v.stateDict().size > 0) {
          throw new Error(`${kind}.${where} is a module that was never registered, so its parameters are not in parameters() or stateDict(): assign it as this.${prop} = this.registerModule('${prop}', …)`);
        }
        if (v instanceof Tensor && v.requiresGrad && !v.node) {
          throw new Error(`${kind}.${where} is a parameter ${shapeStr(v.shape)} that was never registered, so it is not in parameters() or stateDict(): assign it as this.${prop} = this.registerParameter('${prop}', …)`);
        }
      }
    }
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    this.checkRegistered();
    yield [prefix, this];
    for (const [n, c] of this._children) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules(prefix)) for (const [n, t] of m._params) out.push([p ? `${p}.${n}` : n, t]);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Every parameter and buffer, in PyTorch's state_dict order. */
  stateDict(): Map<string, StateValue> {
    const out = new Map<string, StateValue>();
    const visit = (m: Module, prefix: string) => {
      m.checkRegistered();
      const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [n, t] of m._params) out.set(key(n), t);
      for (const [n, b] of m._buffers) out.set(key(n), b);
      for (const [n, c] of m._children) visit(c, key(n));
    };
    visit(this, '');
    return out;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * torch's requires_grad_(): set requiresGrad on every parameter of this module and its children. A frozen
   * parameter (false) gets no gradient: its ops skip their weight-gradient kernels, and optimizers skip it
   * (its grad stays null). Buffers are not touched.
   */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Free every parameter and buffer on the GPU. */
  dispose(): void {
    for (const v of this.stateDict().values()) if (v instanceof Tensor) v.dispose();
  }

  /** Name each tensor after its state_dict key, for error messages. */
  nameTensors(): this {
    for (const [k, v] of this.stateDict()) if (v instanceof Tensor) v.name = k;
    return this;
  }
}

export function describeShape(t: StateValue): string {
  return t instanceof Tensor ? shapeStr(t.shape) : '[] (int64)';
}
