package probity.bench

import rego.v1

# Rule ids that fire for input.action (and input.history for the gift rule).

limits := {"junior": 1000000, "intermediate": 5000000}

now_ns := time.parse_rfc3339_ns(input.action.at)

fired contains "suitability" if input.action.product_risk > input.action.customer.risk_level

fired contains "amount_limit" if input.action.amount > limits[input.action.rm.grade]

fired contains "related_party" if input.action.borrower in input.action.rm.related_parties

fired contains "dual_recording" if {
	input.action.channel == "branch"
	not input.action.recording_id
}

fired contains "elderly_review" if {
	input.action.product_risk >= 4
	birth := time.parse_ns("2006-01-02", input.action.customer.birth_date)
	time.add_date(birth, 65, 0, 0) <= now_ns
}

window_start := time.add_date(now_ns, 0, -12, 0)

gift_total := sum([g.value |
	some g in input.history
	g.giver == input.action.giver
	t := time.parse_rfc3339_ns(g.at)
	t >= window_start
	t <= now_ns
])

fired contains "gift_limit" if gift_total + input.action.value > 5000
