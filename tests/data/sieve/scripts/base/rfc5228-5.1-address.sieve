if address :is :all "from" "alice@example.org" {
   discard;
}
