# The six rules of benchmarks/northwind6.pol in Rego, for the regorus comparison in
# benchmarks/decide.py. The same work on the same JSON document: parse the instants, count
# the matching contacts near the request, read the local clock. (Rego has no
# next_allowed_at search and no precedence; policylang's figures are with explain off.)
package northwind

import rego.v1

day := 86400000000000

now := time.parse_rfc3339_ns(input.request.at)

req := input.request

counted contains c if {
	some c in input.ledger
	not c.event
	object.get(c, "status", "sent") in {"sent", "planned"}
}

near(c, days) if {
	d := now - time.parse_rfc3339_ns(c.at)
	d < days * day
	d > 0 - days * day
}

deny contains "one sales call a week" if {
	req.purpose == "marketing"
	req.channel == "phone"
	count([c | some c in counted; c.purpose == "marketing"; c.channel == "phone"; near(c, 7)]) >= 1
}

deny contains "offers per month" if {
	req.purpose == "marketing"
	count([c | some c in counted; c.purpose == "marketing"; near(c, 30)]) >= 3
}

deny contains "calling hours" if {
	req.channel in {"phone", "sms"}
	[hour, _, _] := time.clock([now, object.get(input.customer, "timezone", "America/New_York")])
	not between(hour)
}

between(hour) if {
	hour >= 8
	hour < 21
}

deny contains "after a complaint" if {
	req.purpose == "marketing"
	some e in input.ledger
	e.event == "complaint"
	d := now - time.parse_rfc3339_ns(e.at)
	d >= 0
	d < 30 * day
}

deny contains "opted out" if {
	req.channel in object.get(input.customer, "opted_out", [])
}

deny contains "one voice" if {
	req.purpose == "marketing"
	some c in counted
	c.purpose == "marketing"
	c.team != req.team
	near(c, 14)
}
