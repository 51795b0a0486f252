# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"from","test":"contains","value":"example.org","action":"flag","argument":"","header":"","name":"","enabled":true,"stop":false},{"field":"to-or-cc","test":"contains","value":"me@","action":"read","argument":"","header":"","name":"","enabled":true,"stop":false}],"auto_reply":null,"forwarding":null}
require ["imap4flags"];
# 1. Rule 1
if header :contains "from" "example.org" {
    addflag "\\Flagged";
}
# 2. Rule 2
if header :contains ["to", "cc"] "me@" {
    addflag "\\Seen";
}
