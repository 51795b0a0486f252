# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[{"field":"subject","test":"regex","value":"(pills|money)","action":"delete","argument":"","header":"","name":"spam words","enabled":true,"stop":false},{"field":"size","test":"over","value":"5K","action":"move","argument":"Big","header":"","name":"","enabled":true,"stop":false},{"field":"size","test":"under","value":"100","action":"flag","argument":"","header":"","name":"","enabled":false,"stop":false}],"auto_reply":null,"forwarding":null}
require ["fileinto", "mailbox", "regex"];
# 1. spam words
if header :regex "subject" "(pills|money)" {
    discard;
}
# 2. Rule 2
if size :over 5120 {
    fileinto :create "Big";
}
# 3. Rule 3 (off)
