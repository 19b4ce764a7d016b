// Example policy, actions and ledger events for the playground.

export const POLICY = `policy conduct "Wealth sales and gifts"
  version "2026.1"
  effective 2026-01-01
  timezone "Asia/Shanghai"

record customer {
  risk_level: int
}

action product_sale {
  customer: customer
  product_risk: int
  amount: money
  channel: one of branch, online, phone
  recording_id: text?
}

action gift_received {
  giver: text
  kind: one of cash, goods, hospitality
  value: money
}

action gift_registered { gift: text }

rule suitability "Product risk must not exceed the customer's risk level"
  cite "Sales measures art. 25(1)"
  on product_sale
  when action.product_risk > action.customer.risk_level
  then deny, breach major
  message "product risk R{action.product_risk} exceeds customer level C{action.customer.risk_level}"
  message zh "产品风险等级 R{action.product_risk} 高于客户风险承受能力 C{action.customer.risk_level}"

rule large_sale "Sales of CNY 1,000,000 or more are reviewed"
  cite "Internal limit 3.2"
  on product_sale
  when action.amount >= 1000000 CNY
  then review, escalate "second_line"
  message "a sale of {action.amount} needs a second-line review"

duty dual_recording "In-branch sales are audio-video recorded (双录)"
  cite "Dual recording rules art. 4"
  on product_sale
  when action.channel = "branch"
  require action.recording_id is present
  otherwise deny, breach major
  message "branch sale without an audio-video recording"

rule cash_gift "Cash is never accepted"
  cite "Staff conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major
  message "cash gift of {action.value} from {action.giver}"
  message zh "收受现金礼品 {action.value}"

rule gift_annual_total "Gifts from one giver above CNY 1,000 a year are reviewed"
  cite "Staff conduct rules 4.3"
  on gift_received
  let total = sum(gift_received.value where giver = action.giver within 12 months) + action.value
  when total > 1000 CNY
  then review, warn
  message "gifts from {action.giver} total {total} in 12 months"

duty gift_register "Gifts of CNY 200 or more are registered within 30 days"
  cite "Staff conduct rules 4.2"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor

ladder conduct "Conduct points"
  window 12 months
  points minor 1, major 3, severe 6
  step 3 "formal warning"
  step 6 "suspension from sales"
`;

const rm = { id: 'RM-0042' };
const customer = { id: 'C-77', risk_level: 3 };

export const ACTIONS = [
  {
    label: 'Unsuitable online sale (deny)',
    action: {
      type: 'product_sale', id: 'S-1001', at: '2026-03-02T10:00:00+08:00', rm, customer,
      product_risk: 5, amount: '50000.00 CNY', channel: 'online',
    },
  },
  {
    label: 'Large recorded branch sale (review)',
    action: {
      type: 'product_sale', id: 'S-1002', at: '2026-03-02T11:00:00+08:00', rm, customer,
      product_risk: 2, amount: '1200000.00 CNY', channel: 'branch', recording_id: 'REC-9',
    },
  },
  {
    label: 'Unrecorded branch sale (deny, duty)',
    action: {
      type: 'product_sale', id: 'S-1003', at: '2026-03-02T14:00:00+08:00', rm, customer,
      product_risk: 3, amount: '80000.00 CNY', channel: 'branch',
    },
  },
  {
    label: 'Cash gift (deny)',
    action: {
      type: 'gift_received', id: 'G-7', at: '2026-03-05T18:30:00+08:00', rm,
      giver: 'ACME Trading', kind: 'cash', value: '500 CNY',
    },
  },
  {
    label: 'Third gift from one giver (review, with history)',
    action: {
      type: 'gift_received', id: 'G-9', at: '2026-03-20T12:00:00+08:00', rm,
      giver: 'ACME Trading', kind: 'goods', value: '400 CNY',
    },
    history: {
      actions: [
        { type: 'gift_received', id: 'G-3', at: '2025-09-01T12:00:00+08:00', rm, giver: 'ACME Trading', kind: 'goods', value: '300 CNY' },
        { type: 'gift_received', id: 'G-5', at: '2026-01-15T12:00:00+08:00', rm, giver: 'ACME Trading', kind: 'hospitality', value: '350 CNY' },
      ],
    },
  },
  {
    label: 'Sale with a missing amount (evaluation error)',
    action: {
      type: 'product_sale', id: 'S-1004', at: '2026-03-03T09:00:00+08:00', rm, customer,
      product_risk: 2, channel: 'online',
    },
  },
];

const event = (o) => JSON.stringify(o);

export const EVENTS = [
  event({ type: 'gift_received', id: 'G-1', at: '2026-03-01T10:00:00+08:00', rm, giver: 'ACME Trading', kind: 'goods', value: '600 CNY' }),
  event({ type: 'gift_received', id: 'G-2', at: '2026-03-10T10:00:00+08:00', rm, giver: 'ACME Trading', kind: 'goods', value: '500 CNY' }),
  event({ type: 'gift_registered', id: 'X-1', at: '2026-03-20T10:00:00+08:00', rm, gift: 'G-2' }),
  event({ type: 'product_sale', id: 'S-1', at: '2026-04-02T10:00:00+08:00', rm, customer, product_risk: 5, amount: '50000.00 CNY', channel: 'online' }),
  event({ advance: '2026-05-01T00:00:00+08:00' }),
].join('\n');
