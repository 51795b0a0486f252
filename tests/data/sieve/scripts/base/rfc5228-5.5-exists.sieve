require "fileinto";
if exists ["From","Date"] {
   fileinto "has-from-and-date";
}
