# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"body","test":"contains","value":"schedule","action":"forward-copy","argument":"boss@example.org","header":"","name":"","enabled":true,"stop":false},{"field":"from","test":"matches","value":"*lottery*","action":"reject","argument":"No \"prizes\" \\ here.","header":"","name":"","enabled":true,"stop":false}],"auto_reply":null,"forwarding":null}
require ["body", "copy", "reject"];
# 1. Rule 1
if body :text :contains "schedule" {
    redirect :copy "boss@example.org";
}
# 2. Rule 2
if header :matches "from" "*lottery*" {
    reject "No \"prizes\" \\ here.";
}
