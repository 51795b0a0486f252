# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"subject","test":"contains","value":"meeting","action":"move","argument":"Meetings","header":"","name":"","enabled":true,"stop":false}],"auto_reply":{"subject":"Away","text":"I am away.\nBack on Monday.","days":5,"start":"","end":"","addresses":[]},"forwarding":{"to":["a@example.net","b@example.net"],"keep":true}}
require ["copy", "fileinto", "mailbox", "vacation"];
# Forward to
redirect :copy "a@example.net";
redirect :copy "b@example.net";
# Out of office
vacation :days 5 :subject "Away" "I am away.
Back on Monday.";
# 1. Rule 1
if header :contains "subject" "meeting" {
    fileinto :create "Meetings";
}
