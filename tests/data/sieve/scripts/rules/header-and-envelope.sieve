# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"header","test":"is","value":"bulk","action":"move","argument":"Bulk","header":"Precedence","name":"","enabled":true,"stop":false},{"field":"envelope-from","test":"matches","value":"*@spam.example","action":"delete","argument":"","header":"","name":"","enabled":true,"stop":false},{"field":"envelope-to","test":"is","value":"me+shopping@example.com","action":"move","argument":"Shop","header":"","name":"","enabled":true,"stop":false}],"auto_reply":null,"forwarding":null}
require ["envelope", "fileinto", "mailbox"];
# 1. Rule 1
if header :is "Precedence" "bulk" {
    fileinto :create "Bulk";
}
# 2. Rule 2
if envelope :all :matches "from" "*@spam.example" {
    discard;
}
# 3. Rule 3
if envelope :all :is "to" "me+shopping@example.com" {
    fileinto :create "Shop";
}
