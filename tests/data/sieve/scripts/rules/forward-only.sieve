# Quicksilver rules v1 (written by Quicksilver; edit them in its window).
# data: {"rules":[],"auto_reply":null,"forwarding":{"to":["other@example.net"],"keep":false}}
# Forward to
redirect "other@example.net";
