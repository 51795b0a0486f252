require ["editheader", "fileinto"];
addheader "X-Original-To" "archive@example.com";
deleteheader "to";
if address :is "to" "me@example.com" { fileinto "to-still-there"; }
if not exists "to" { fileinto "to-gone"; }
