import { autoHint, cleanSpec, dropNullable, extraErrors, fieldOrder, formSchema, prefillFrom, unplacedErrors } from '../panels/schemaForm';

// A cut-down TrainSpec schema with the shapes pydantic publishes (nullable anyOf, $refs, technique blocks).
const SCHEMA = {
  type: 'object',
  required: ['model', 'dataset'],
  properties: {
    kind: { const: 'train', default: 'train' },
    name: { anyOf: [{ type: 'string', maxLength: 200 }, { type: 'null' }], default: null },
    technique: { enum: ['sft', 'dpo', 'grpo'], default: 'sft', type: 'string' },
    model: { type: 'string', minLength: 1 },
    dataset: { type: 'string', minLength: 1 },
    max_steps: { anyOf: [{ type: 'integer', exclusiveMinimum: 0 }, { type: 'null' }], default: null },
    learning_rate: { anyOf: [{ type: 'number' }, { type: 'null' }], default: null },
    lora: { anyOf: [{ $ref: '#/$defs/LoraSpec' }, { type: 'null' }] },
    batch_size: { anyOf: [{ type: 'integer' }, { type: 'null' }], default: null },
    tracking: { $ref: '#/$defs/TrackingSpec' },
    mystery: { type: 'boolean' },
    sft: { anyOf: [{ $ref: '#/$defs/SFTOptions' }, { type: 'null' }], default: null },
    dpo: { anyOf: [{ $ref: '#/$defs/DPOOptions' }, { type: 'null' }], default: null },
    grpo: { anyOf: [{ $ref: '#/$defs/GRPOOptions' }, { type: 'null' }], default: null },
    auto: { type: 'object' }
  },
  $defs: {
    LoraSpec: { type: 'object', properties: { r: { anyOf: [{ type: 'integer' }, { type: 'null' }], default: null } } },
    TrackingSpec: { type: 'object', properties: { experiment: { type: 'string' } } },
    SFTOptions: { type: 'object', properties: { packing: { type: 'boolean' } } },
    DPOOptions: { type: 'object', properties: { beta: { type: 'number', default: 0.1 } } },
    GRPOOptions: {
      type: 'object',
      properties: {
        rewards: {
          type: 'array',
          items: {
            discriminator: { propertyName: 'type', mapping: {} },
            oneOf: [{ $ref: '#/$defs/ExactMatchReward' }, { $ref: '#/$defs/RegexReward' }]
          }
        }
      }
    }
  }
};

describe('formSchema', () => {
  it('keeps only the chosen technique block, titled after it, and hides kind/auto', () => {
    const s = formSchema(SCHEMA, 'dpo');
    expect(Object.keys(s.properties)).toContain('dpo');
    expect(s.properties).not.toHaveProperty('sft');
    expect(s.properties).not.toHaveProperty('grpo');
    expect(s.properties).not.toHaveProperty('kind');
    expect(s.properties).not.toHaveProperty('auto');
    expect(s.properties.dpo.title).toBe('DPO options');
    expect(s.required).toEqual(['model', 'dataset']);
  });

  it('switching technique swaps the block', () => {
    const s = formSchema(SCHEMA, 'grpo');
    expect(s.properties).toHaveProperty('grpo');
    expect(s.properties).not.toHaveProperty('dpo');
  });

  it('drops every default: an empty field is the server choosing (a select must not show its first option)', () => {
    const s = formSchema(SCHEMA, 'dpo');
    expect(s.properties.technique).toEqual({ enum: ['sft', 'dpo', 'grpo'], type: 'string' });
    expect(s.$defs.DPOOptions.properties.beta).toEqual({ type: 'number' });
    // a property named "default" would survive (only the keyword goes)
    expect(formSchema({ properties: { x: { type: 'object', properties: { default: { type: 'string' } } } } }, 'sft').properties.x.properties).toHaveProperty('default');
  });

  it('turns nullable anyOf into the plain type and drops null defaults', () => {
    const s = formSchema(SCHEMA, 'sft');
    expect(s.properties.max_steps).toEqual({ type: 'integer', exclusiveMinimum: 0 });
    expect(s.properties.lora).toEqual({ $ref: '#/$defs/LoraSpec' });
    expect(s.$defs.LoraSpec.properties.r).toEqual({ type: 'integer' });
  });

  it('keeps real unions (the GRPO reward list) but drops the OpenAPI discriminator ajv does not know', () => {
    const items = dropNullable(SCHEMA).$defs.GRPOOptions.properties.rewards.items;
    expect(items.oneOf).toHaveLength(2);
    expect(items).not.toHaveProperty('discriminator');
  });
});

describe('fieldOrder without server groups', () => {
  it('shows every field in schema order, none folded, only the chosen technique block', () => {
    const o = fieldOrder(SCHEMA, 'dpo');
    expect(o.main).toEqual(['name', 'technique', 'model', 'dataset', 'max_steps', 'learning_rate', 'lora', 'batch_size', 'tracking', 'mystery', 'dpo']);
    expect(o.advanced).toEqual([]);
    expect(fieldOrder(SCHEMA, 'dpo', [])).toEqual(o);
  });
});

describe('fieldOrder with the server layout hints', () => {
  it('follows the server groups, keeps only the chosen technique block, and never loses a field', () => {
    const groups = [
      { name: 'main', title: 'Job', fields: ['model', 'dataset', 'technique', 'sft', 'dpo', 'grpo', 'name'], advanced: false },
      { name: 'lora', title: 'LoRA', fields: ['lora'], advanced: true },
      { name: 'schedule', title: 'Schedule', fields: ['batch_size', 'max_steps'], advanced: true }
    ];
    const o = fieldOrder(SCHEMA, 'dpo', groups);
    expect(o.main).toEqual(['model', 'dataset', 'technique', 'dpo', 'name']);
    expect(o.advanced).toEqual([
      ['LoRA', ['lora']],
      ['Schedule', ['batch_size', 'max_steps']],
      ['Other', ['learning_rate', 'tracking', 'mystery']]
    ]);
  });
});

describe('cleanSpec', () => {
  it('drops empty values (so the server chooses) and other techniques blocks', () => {
    const spec = cleanSpec(
      { technique: 'dpo', model: 'm', dataset: 'd', name: '', max_steps: null, lora: { r: undefined }, dpo: { beta: 0.2, loss_weights: [] }, sft: { packing: true } },
      'dpo',
      ['sft', 'dpo', 'grpo']
    );
    expect(spec).toEqual({ technique: 'dpo', model: 'm', dataset: 'd', dpo: { beta: 0.2 } });
  });

  it('keeps zeros and false, which are values', () => {
    expect(cleanSpec({ eval_fraction: 0, liger_kernel: false })).toEqual({ eval_fraction: 0, liger_kernel: false });
  });

  it('prefill from a stored spec drops the server-filled parts', () => {
    expect(prefillFrom({ kind: 'train', technique: 'dpo', model: 'm', auto: { x: 'y' }, sft: null })).toEqual({ technique: 'dpo', model: 'm' });
  });
});

describe('errors', () => {
  it('maps server field errors onto nested form paths', () => {
    const e = extraErrors([
      { field: 'learning_rate', message: 'must be > 0' },
      { field: 'lora.r', message: 'too big' },
      { field: 'grpo.rewards[1].pattern', message: 'bad regex' },
      { field: 'lora.r', message: 'second' }
    ]);
    expect(e.learning_rate.__errors).toEqual(['must be > 0']);
    expect(e.lora.r.__errors).toEqual(['too big', 'second']);
    expect(e.grpo.rewards['1'].pattern.__errors).toEqual(['bad regex']);
  });

  it('lists errors whose field is not in the form instead of dropping them', () => {
    const s = formSchema(SCHEMA, 'sft');
    expect(unplacedErrors([{ field: 'model', message: 'x' }, { field: 'device', message: 'no GPU' }, { message: 'general' }], s)).toEqual([
      'device: no GPU',
      'general'
    ]);
  });
});

describe('autoHint with the preview route answer', () => {
  const preview = {
    valid: true,
    spec: { batch_size: 8, lora: { r: 8 } },
    auto: { 'lora.r': { value: 8, why: '8: rank for a 140K-parameter model' }, learning_rate: { value: 5e-5, why: 'usual for dpo with LoRA' } },
    errors: []
  };
  it('shows the value and the reason', () => {
    expect(autoHint(['lora', 'r'], {}, preview)).toBe('auto: 8: rank for a 140K-parameter model');
    expect(autoHint(['learning_rate'], {}, preview)).toBe('auto: 0.00005 (usual for dpo with LoRA)');
  });
  it('falls back to the sized spec (lists of plain values too)', () => {
    expect(autoHint(['batch_size'], {}, preview)).toBe('auto: 8');
    expect(autoHint(['dpo', 'loss_type'], {}, { ...preview, spec: { dpo: { loss_type: ['sigmoid'] } } })).toBe('auto: sigmoid');
  });
});

describe('autoHint', () => {
  const preview = { learning_rate: 5e-5, lora: { r: 8 }, batch_size: 8, auto: { 'lora.r': '8: rank for a 140K-parameter model', batch_size: 'batch 8 fits' } };
  it('says the server value and why for an empty field', () => {
    expect(autoHint(['lora', 'r'], {}, preview)).toBe('auto: 8: rank for a 140K-parameter model');
    expect(autoHint(['batch_size'], { batch_size: '' }, preview)).toBe('auto: batch 8 fits');
  });
  it('falls back to the previewed value without a reason', () => {
    expect(autoHint(['learning_rate'], {}, preview)).toBe('auto: 0.00005');
  });
  it('says nothing for a filled field or without a preview', () => {
    expect(autoHint(['batch_size'], { batch_size: 4 }, preview)).toBeNull();
    expect(autoHint(['batch_size'], {}, null)).toBeNull();
    expect(autoHint(['lora'], {}, preview)).toBeNull();
  });
});
