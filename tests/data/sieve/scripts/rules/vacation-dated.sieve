# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[],"auto_reply":{"subject":"Out","text":"Gone fishing.","days":2,"start":"2000-01-01","end":"2999-12-31","addresses":["me@example.com"]},"forwarding":null}
require ["date", "relational", "vacation"];
# Out of office
if allof (currentdate :value "ge" "date" "2000-01-01", currentdate :value "le" "date" "2999-12-31") {
    vacation :days 2 :subject "Out" :addresses ["me@example.com"] "Gone fishing.";
}
