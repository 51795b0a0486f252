require ["regex", "variables", "fileinto"];
if header :regex "list-id" "<([a-z-]+)\\.lists\\." {
    fileinto "lists.${1}";
    stop;
}
if address :regex :localpart "from" "^(alice|bob|carol)$" {
    fileinto "friends.${1}";
}
