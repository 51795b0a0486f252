# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"subject","test":"matches","value":"[acme-users]*","action":"copy","argument":"Lists","header":"","name":"","enabled":true,"stop":true},{"field":"subject","test":"contains","value":"version","action":"flag","argument":"","header":"","name":"","enabled":true,"stop":false}],"auto_reply":null,"forwarding":null}
require ["copy", "fileinto", "imap4flags", "mailbox"];
# 1. Rule 1
if header :matches "subject" "[acme-users]*" {
    fileinto :copy :create "Lists";
    stop;
}
# 2. Rule 2
if header :contains "subject" "version" {
    addflag "\\Flagged";
}
