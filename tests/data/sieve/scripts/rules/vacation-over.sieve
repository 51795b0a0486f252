# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[],"auto_reply":{"subject":"Out","text":"Back already.","days":2,"start":"2001-01-01","end":"2001-01-02","addresses":[]},"forwarding":null}
require ["date", "relational", "vacation"];
# Out of office
if allof (currentdate :value "ge" "date" "2001-01-01", currentdate :value "le" "date" "2001-01-02") {
    vacation :days 2 :subject "Out" "Back already.";
}
