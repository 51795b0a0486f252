# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"subject","test":"contains","value":"project","action":"move","argument":"Work/Projects","header":"","name":"","enabled":true,"stop":false}],"auto_reply":null,"forwarding":null}
require ["fileinto", "mailbox"];
# 1. Rule 1
if header :contains "subject" "project" {
    fileinto :create "Work/Projects";
}
