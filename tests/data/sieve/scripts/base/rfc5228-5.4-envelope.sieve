require "envelope";
if envelope :all :is "from" "dave@example.com" {
   discard;
}
